"""Outbound postbacks against real local receivers, with the worker's clock controlled."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook

from postback.deliveries.worker import DeliveryWorker
from postback.models import Delivery, DeliveryAttempt, TrafficSource
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup
from tests.receiver import Receiver, running_receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def convert(
    live: LiveServer, http: httpx.Client, receiver: Receiver, path: str, **source: object
) -> Setup:
    template = f"{receiver.url}/{path}?ext={{external_id}}&p={{payout}}&s={{status}}"
    setup = make_setup(live, source={"postback_url": template, **source})
    cid = click(http, setup, subid="EXT1")
    resp = http.get(f"{setup.postback}&clickid={cid}&payout=2.5")
    assert resp.status_code == 200
    return setup


def worker(live: LiveServer, **overrides: object) -> DeliveryWorker:
    settings = live.settings.model_copy(
        update={"outbound_timeout": timedelta(seconds=1), **overrides}
    )
    return DeliveryWorker(settings, live.runtime.db, name="test-worker")


def run_at(w: DeliveryWorker, now: datetime) -> int:
    async def once() -> int:
        try:
            return await w.run_once(now)
        finally:
            await w.client.aclose()

    return asyncio.run(once())


def delivery(live: LiveServer) -> Delivery:
    with live.runtime.db.session() as s:
        return s.scalars(select(Delivery)).one()


def attempts(live: LiveServer) -> list[DeliveryAttempt]:
    with live.runtime.db.session() as s:
        return list(s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def test_delivered_once_with_macros_filled_and_idempotency_key(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    convert(live, http, receiver, "ok", postback_status_names={"approved": "1"})
    now = datetime.now(UTC)
    assert run_at(worker(live), now) == 1
    assert run_at(worker(live), now + timedelta(days=1)) == 0
    [hit] = receiver.hits
    assert hit.query == "ext=EXT1&p=2.5&s=1"
    d = delivery(live)
    assert (d.state, d.attempts, d.last_status_code) == ("delivered", 1, 200)
    assert hit.headers["idempotency-key"] == d.id
    assert "Postback/" in hit.headers["user-agent"]
    [a] = attempts(live)
    assert (a.outcome, a.status_code, a.response_snippet) == ("delivered", 200, "ok")


def test_failures_follow_the_schedule_then_dead_letter_then_replay(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    convert(live, http, receiver, "fail")
    w_settings = {"retry_schedule": (timedelta(seconds=5), timedelta(minutes=5))}
    now = datetime.now(UTC)
    assert run_at(worker(live, **w_settings), now) == 1
    d = delivery(live)
    assert d.state == "pending"
    delay = d.next_attempt_at - now
    assert timedelta(seconds=4) <= delay <= timedelta(seconds=6)  # 5 s with +/-20% jitter
    assert run_at(worker(live, **w_settings), now + timedelta(seconds=2)) == 0  # not yet due
    assert run_at(worker(live, **w_settings), now + timedelta(seconds=7)) == 1
    d = delivery(live)
    assert (
        timedelta(minutes=4)
        <= d.next_attempt_at - (now + timedelta(seconds=7))
        <= timedelta(minutes=6)
    )
    assert run_at(worker(live, **w_settings), now + timedelta(minutes=10)) == 1
    d = delivery(live)
    assert (d.state, d.attempts) == ("dead", 3)
    snippets = [a.response_snippet or "" for a in attempts(live)]
    assert all(len(s) <= 512 and "\x00" not in s for s in snippets)
    assert len(receiver.hits) == 3
    assert run_at(worker(live, **w_settings), now + timedelta(days=5)) == 0
    # Replay puts the dead letter back in the queue.
    api = httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {live.settings.admin_api_key}"}
    )
    resp = api.post(f"/api/v1/deliveries/{d.id}/replay")
    assert resp.status_code == 200, resp.text
    assert run_at(worker(live, **w_settings), datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert len(receiver.hits) == 4


def test_retry_after_is_honoured_and_capped(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    convert(live, http, receiver, "busy")
    now = datetime.now(UTC)
    run_at(worker(live, retry_after_cap=timedelta(hours=1)), now)
    assert delivery(live).next_attempt_at - now == timedelta(hours=1)


@pytest.mark.parametrize(("path", "code"), [("redirect", 302), ("slow", None)])
def test_redirects_and_timeouts_are_failures(
    live: LiveServer, http: httpx.Client, receiver: Receiver, path: str, code: int | None
) -> None:
    convert(live, http, receiver, path)
    run_at(worker(live), datetime.now(UTC))
    d = delivery(live)
    assert d.state == "pending"
    assert d.last_status_code == code
    assert len(receiver.hits) == 1  # the redirect was not followed
    if code is None:
        assert "timed out" in (d.last_error or "")


def test_a_slow_body_does_not_hold_the_worker(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    """The receiver sends 200 at once, then its body one byte every 100 ms for 10 s: the
    status decides, and we read only what has arrived instead of waiting for the rest."""
    convert(live, http, receiver, "drip")
    started = time.monotonic()
    run_at(worker(live), datetime.now(UTC))
    assert time.monotonic() - started < 1.0  # the worker's timeout here is 1 s
    d = delivery(live)
    assert (d.state, d.last_status_code) == ("delivered", 200)
    assert attempts(live)[0].response_snippet == "x"


def test_gone_disables_the_destination(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    setup = convert(live, http, receiver, "gone")
    run_at(worker(live), datetime.now(UTC))
    assert delivery(live).state == "disabled"
    with live.runtime.db.session() as s:
        source = s.get(TrafficSource, setup.source_id)
        assert source is not None and source.postback_disabled_at is not None
    # Later conversions for that source queue up but are not sent until it is re-enabled.
    cid = click(http, setup)
    http.get(f"{setup.postback}&clickid={cid}")
    assert run_at(worker(live), datetime.now(UTC)) == 0


def test_connection_refused_is_retried(live: LiveServer, http: httpx.Client) -> None:
    dead = Receiver(url="http://127.0.0.1:9")
    convert(live, http, dead, "ok")
    run_at(worker(live), datetime.now(UTC))
    d = delivery(live)
    assert d.state == "pending" and d.last_error


def test_private_destinations_are_refused_without_an_allowlist(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    convert(live, http, receiver, "ok")
    run_at(worker(live, outbound_allowlist=""), datetime.now(UTC))
    d = delivery(live)
    assert d.state == "dead"
    assert "non-public" in (d.last_error or "")
    assert receiver.hits == []


def test_standard_webhooks_signature_verifies_with_the_reference_library(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    convert(live, http, receiver, "ok", postback_signing_secret=SECRET)
    run_at(worker(live), datetime.now(UTC))
    [hit] = receiver.hits
    headers = hit.headers
    event = Webhook(SECRET).verify(hit.body, headers)  # raises if the signature is wrong
    assert headers["webhook-id"] == delivery(live).id
    assert event["type"] == "conversion.approved"
    assert event["data"]["payout"] == "2.5"
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(SECRET).verify(hit.body.replace(b"2.5", b"9.5"), headers)


def test_an_expired_lease_is_claimed_again_with_the_same_idempotency_key(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    convert(live, http, receiver, "ok")
    now = datetime.now(UTC)
    with live.runtime.db.session() as s:  # a worker that claimed it and was killed
        s.execute(
            update(Delivery).values(
                state="delivering",
                lease_owner="dead-worker",
                lease_expires_at=now + timedelta(seconds=60),
            )
        )
    assert run_at(worker(live), now) == 0
    assert run_at(worker(live), now + timedelta(seconds=61)) == 1
    assert delivery(live).state == "delivered"
    assert receiver.hits[0].headers["idempotency-key"] == delivery(live).id


def test_event_and_status_filters_choose_what_fires(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    template = f"{receiver.url}/ok?s={{status}}"
    setup = make_setup(live, source={"postback_url": template, "postback_statuses": ["approved"]})
    a, b = click(http, setup), click(http, setup)
    http.get(f"{setup.postback}&clickid={a}&status=pending")
    http.get(f"{setup.postback}&clickid={b}&status=approved")
    http.get(f"{setup.postback}&clickid={a}&status=approved")  # pending -> approved
    with live.runtime.db.session() as s:
        states = s.scalars(select(Delivery.status)).all()
    assert sorted(states) == ["approved", "approved"]


def _cli(live: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSTBACK_DATABASE_URL": live.settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "postback.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_lists_shows_and_replays_dead_letters(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    setup = convert(live, http, receiver, "fail")
    run_at(worker(live, retry_schedule=()), datetime.now(UTC))  # no retries: dead at once
    d = delivery(live)
    assert d.state == "dead"
    listed = _cli(live, "deliveries", "list", "--state", "dead", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert [row["id"] for row in json.loads(listed.stdout)] == [d.id]
    shown = _cli(live, "deliveries", "show", d.id, "--format", "json")
    assert json.loads(shown.stdout)["attempt_log"][0]["status_code"] == 500
    replayed = _cli(live, "deliveries", "replay", "--source", str(setup.source_id))
    assert replayed.stdout.strip() == "1 deliveries queued again"
    assert delivery(live).state == "pending"
    bad = _cli(live, "deliveries", "list", "--state", "bogus")
    assert bad.returncode != 0
    assert bad.stderr.strip().startswith("error:") and "Traceback" not in bad.stderr


def test_a_huge_retry_after_is_clamped_and_spoils_no_other_result(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    convert(live, http, receiver, "forever")
    convert(live, http, receiver, "ok")
    now = datetime.now(UTC)
    assert run_at(worker(live, retry_after_cap=timedelta(hours=1)), now) == 2
    with live.runtime.db.session() as s:
        rows = {d.url.split("/")[3].split("?")[0]: d for d in s.scalars(select(Delivery))}
    assert (rows["ok"].state, rows["ok"].attempts) == ("delivered", 1)
    assert (rows["forever"].state, rows["forever"].attempts) == ("pending", 1)
    assert rows["forever"].next_attempt_at - now == timedelta(hours=1)
    assert len(attempts(live)) == 2
    # Nothing is sent again before it is due: the healthy one was delivered exactly once.
    assert run_at(worker(live), now + timedelta(minutes=30)) == 0
    assert sorted(receiver.paths()) == ["/forever", "/ok"]


def test_a_result_that_cannot_be_stored_is_dead_lettered_alone(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    convert(live, http, receiver, "fail")
    convert(live, http, receiver, "ok")
    # A retry delay no datetime can hold: judging the failed attempt raises OverflowError.
    endless = {"retry_schedule": (timedelta(days=999_999_998),)}
    now = datetime.now(UTC)
    assert run_at(worker(live, **endless), now) == 2
    with live.runtime.db.session() as s:
        rows = {d.url.split("/")[3].split("?")[0]: d for d in s.scalars(select(Delivery))}
    assert (rows["ok"].state, rows["ok"].attempts) == ("delivered", 1)
    dead = rows["fail"]
    assert (dead.state, dead.attempts, dead.last_status_code) == ("dead", 1, 500)
    assert "could not be stored" in (dead.last_error or "")
    outcomes = sorted((a.delivery_id == dead.id, a.outcome) for a in attempts(live))
    assert outcomes == [(False, "delivered"), (True, "failed")]
    assert run_at(worker(live), now + timedelta(days=30)) == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1000000000000000", timedelta(hours=12)),
        ("9" * 5000, timedelta(hours=12)),
        ("²", None),
        ("-5", None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", timedelta(hours=12)),
        ("120", timedelta(minutes=2)),
    ],
)
def test_any_retry_after_is_read_within_the_cap(header: str, expected: timedelta | None) -> None:
    from postback.deliveries.rules import parse_retry_after

    now = datetime.now(UTC)
    assert parse_retry_after({"retry-after": header}, now, timedelta(hours=12)) == expected
