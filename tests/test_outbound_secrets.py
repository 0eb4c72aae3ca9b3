"""A traffic source's credentials in its postback URL are sent to it, and shown nowhere: not in
the deliveries API, pages or CLI, not in the attempt log, not in an echoed answer, not in a
list of sources; an admin reading the one source sees its URL whole, to edit it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from postback.models import Delivery, DeliveryAttempt
from postback.users.tables import Role
from tests.conftest import ADMIN_KEY, LiveServer
from tests.factories import click, make_setup
from tests.receiver import Receiver, running_receiver
from tests.signin import make_user, signed_in_client
from tests.test_cli import run_cli
from tests.test_deliveries import run_at, worker
from tests.test_secret_redaction import spellings

KEY = "SourceKey+Canary/77=q"
PATH_KEY = "PathCanary7f3a9c2e1b"
PASSWORD = "UserinfoCanary99"
WEBHOOK = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FORBIDDEN = (
    spellings(KEY) | spellings(PATH_KEY) | spellings(PASSWORD) | spellings(WEBHOOK)
    | spellings(WEBHOOK.removeprefix("whsec_"))
)  # fmt: skip


def assert_clean(where: str, content: str) -> None:
    leaked = [form for form in FORBIDDEN if form in content]
    assert not leaked, f"{where} shows {leaked}: {content[:3000]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def secret_template(receiver: Receiver, behaviour: str = "echo") -> str:
    host = receiver.url.replace("http://", f"http://user:{PASSWORD}@")
    query = f"key={KEY.replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}"
    return f"{host}/{behaviour}/{PATH_KEY}/pb?{query}&clickid={{external_id}}&p={{payout}}"


def delivered(live: LiveServer, http: httpx.Client, template: str, **source: object) -> str:
    """One conversion of a source with credentials in its URL, sent once; its delivery id."""
    setup = make_setup(live, source={"postback_url": template, **source})
    cid = click(http, setup, subid="EXT1")
    assert http.get(f"{setup.postback}&clickid={cid}&payout=2").status_code == 200
    assert run_at(worker(live), datetime.now(UTC)) == 1
    with live.runtime.db.session() as s:
        return s.scalars(select(Delivery.id)).one()


def shown_everywhere(
    live: LiveServer, http: httpx.Client, tmp_path: Path, delivery_id: str, *, stored: bool = True
) -> None:
    api = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with live.runtime.db.session() as s:
        d = s.get(Delivery, delivery_id)
        assert d is not None
        conversion_id, source_id = d.conversion_id, d.traffic_source_id
        attempts = list(s.scalars(select(DeliveryAttempt)))
    for a in attempts if stored else []:  # the attempt log is a log: stored masked
        assert_clean("stored attempt", json.dumps([a.url, a.error, a.response_snippet]))
    for path in (
        "/api/v1/deliveries", f"/api/v1/deliveries/{delivery_id}",
        f"/api/v1/deliveries?traffic_source_id={source_id}", "/api/v1/traffic-sources",
    ):  # fmt: skip
        answer = http.get(path, headers=api)
        assert answer.status_code == 200, answer.text
        assert_clean(path, answer.text)
    from postback.models import Conversion

    with live.runtime.db.session() as s:
        clickid = s.get(Conversion, conversion_id).click_id  # type: ignore[union-attr]
    assert_clean("explain", http.get(f"/api/v1/clicks/{clickid}/explain", headers=api).text)
    with signed_in_client(live, make_user(live, Role.VIEWER)) as viewer:
        for path in (
            "/deliveries", f"/deliveries/{delivery_id}", f"/conversions/{conversion_id}",
            f"/clicks/{clickid}", "/setup", f"/setup/traffic-sources/{source_id}",
        ):  # fmt: skip
            page = viewer.get(path)
            assert page.status_code == 200, path
            assert_clean(f"viewer page {path}", page.text)
    env = {"POSTBACK_DATABASE_URL": live.settings.database_url, "COLUMNS": "400"}
    for args in (
        ("deliveries", "list"), ("deliveries", "list", "--format", "json"),
        ("deliveries", "show", delivery_id),
        ("deliveries", "show", delivery_id, "--format", "json"),
        ("check", "explain", clickid), ("check", "explain", clickid, "--format", "json"),
    ):  # fmt: skip
        result = run_cli(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert_clean(f"postback {' '.join(args)}", result.stdout + result.stderr)


def test_a_source_credential_is_sent_but_never_shown(
    live: LiveServer, http: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    delivery_id = delivered(live, http, secret_template(receiver))
    [hit] = receiver.hits
    assert hit.path == f"/echo/{PATH_KEY}/pb"  # sent whole: the receiver needs it
    assert "key=SourceKey%2BCanary%2F77%3Dq" in hit.query
    shown_everywhere(live, http, tmp_path, delivery_id)
    api = {"Authorization": f"Bearer {ADMIN_KEY}"}
    detail = http.get(f"/api/v1/deliveries/{delivery_id}", headers=api).json()
    # Still a useful log: what is not a credential is shown as sent.
    assert "key=***" in detail["url"] and "clickid=EXT1" in detail["url"]
    assert "/***/pb" in detail["attempt_log"][0]["response_snippet"]


def test_a_signed_source_never_shows_its_webhook_secret(
    live: LiveServer, http: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    template = f"{receiver.url}/echo/x?token={WEBHOOK}&clickid={{external_id}}"
    delivery_id = delivered(live, http, template, postback_signing_secret=WEBHOOK)
    [hit] = receiver.hits
    assert hit.headers["webhook-signature"].startswith("v1,")
    shown_everywhere(live, http, tmp_path, delivery_id)


def test_an_old_attempt_stored_whole_is_masked_when_shown(
    live: LiveServer, http: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    """Attempts and errors logged before the worker masked them."""
    delivery_id = delivered(live, http, secret_template(receiver))
    with live.runtime.db.session() as s:
        d = s.get(Delivery, delivery_id)
        assert d is not None
        for a in s.scalars(select(DeliveryAttempt)):
            a.url, a.response_snippet, a.error = d.url, f"echo {d.url}", f"failed: {d.url}"
        d.last_error = f"failed: {d.url}"
        s.commit()
    shown_everywhere(live, http, tmp_path, delivery_id, stored=False)


def test_admin_reads_one_source_whole_lists_and_viewers_do_not(
    live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    setup = make_setup(live, source={"postback_url": secret_template(receiver)})
    api = {"Authorization": f"Bearer {ADMIN_KEY}"}
    one = http.get(f"/api/v1/traffic-sources/{setup.source_id}", headers=api).json()
    assert PATH_KEY in one["postback_url"]
    with signed_in_client(live, make_user(live, Role.ADMIN)) as admin:
        assert PATH_KEY in admin.get(f"/setup/traffic-sources/{setup.source_id}").text
        assert_clean("setup list", admin.get("/setup").text)
    with signed_in_client(live, make_user(live, Role.VIEWER)) as viewer:
        assert_clean("campaign", viewer.get(f"/campaigns/{setup.campaign_id}").text)
