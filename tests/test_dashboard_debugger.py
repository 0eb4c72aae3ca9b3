"""The debugger pages over plain HTTP: clicks, conversions, postback log, deliveries — their
filters, keyset pages, bad input, and who may replay. Browser tests: tests/e2e/test_debugger.py."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from postback.conversions.reasons import Reason
from postback.dashboard.debugger_common import PAGE_SIZE
from postback.dashboard.debugger_words import REASONS, reason_text
from postback.models import Click, Conversion, Delivery, PostbackLogEntry
from tests.conftest import LiveServer
from tests.debugdata import UNKNOWN_CLICK, convert, dead_delivery, refused_postback
from tests.factories import click, make_setup
from tests.receiver import Receiver, running_receiver
from tests.signin import csrf_of, make_user, signed_in_client

PAGES = ["/clicks", "/conversions", "/postback-log", "/deliveries"]
_IDS = re.compile(r'href="/(?:clicks|conversions|deliveries)/([0-9A-Z]{26})"')


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(live, make_user(live, "admin")) as client:
        yield client


@pytest.fixture
def viewer(live: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(live, make_user(live, "viewer")) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def count(live: LiveServer, model: type) -> int:
    with live.runtime.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def first_column_ids(html: str, kind: str) -> list[str]:
    return re.findall(rf'<th scope="row"><a href="/{kind}/([0-9A-Z]{{26}})"', html)


def test_every_reason_code_is_explained_in_plain_words() -> None:
    assert set(REASONS) == set(Reason)
    assert reason_text("no_such_code") == "Reason code 'no_such_code'."


@pytest.mark.parametrize("path", [*PAGES, "/reports"])
def test_debugger_pages_need_a_sign_in(http: httpx.Client, path: str) -> None:
    resp = http.get(path)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/login?next=")


def test_viewers_read_every_debugger_page(
    live: LiveServer, http: httpx.Client, viewer: httpx.Client, receiver: Receiver
) -> None:
    delivery = dead_delivery(live, http, receiver.url, "fail")
    refused_postback(http, make_setup(live))
    for path in PAGES:
        resp = viewer.get(path)
        assert resp.status_code == 200, (path, resp.text)
    log_id = live_log_ids(live)[0]
    for path in (
        f"/clicks/{click_of(live, delivery.conversion_id)}",
        f"/conversions/{delivery.conversion_id}",
        f"/deliveries/{delivery.id}",
        f"/postback-log/{log_id}",
    ):
        resp = viewer.get(path)
        assert resp.status_code == 200, (path, resp.text)
        assert '/replay"' not in resp.text  # no replay buttons for a viewer


def live_log_ids(live: LiveServer) -> list[str]:
    with live.runtime.db.session() as s:
        return list(s.scalars(select(PostbackLogEntry.id).order_by(PostbackLogEntry.id.desc())))


def click_of(live: LiveServer, conversion_id: str) -> str:
    with live.runtime.db.session() as s:
        row = s.get(Conversion, conversion_id)
        assert row is not None
        return row.click_id


def test_a_refused_postback_is_listed_with_its_reason_in_plain_words(
    live: LiveServer, http: httpx.Client, admin: httpx.Client
) -> None:
    setup = make_setup(live)
    convert(http, setup, click(http, setup), "3")
    refused_postback(http, setup)
    page = admin.get("/postback-log").text
    assert page.count('<tr data-id="') == 2
    assert "<code>unknown_click</code>" in page
    assert "No click has this click ID here." in page
    refused = admin.get("/postback-log", params={"outcome": "refused", "network_id": ""}).text
    assert refused.count('<tr data-id="') == 1 and UNKNOWN_CLICK in refused
    by_reason = admin.get("/postback-log", params={"reason": "unknown_click"}).text
    assert by_reason.count('<tr data-id="') == 1
    by_click = admin.get("/postback-log", params={"clickid": UNKNOWN_CLICK}).text
    assert by_click.count('<tr data-id="') == 1
    accepted = admin.get("/postback-log", params={"outcome": "accepted"}).text
    assert accepted.count('<tr data-id="') == 1 and UNKNOWN_CLICK not in accepted
    other = make_setup(live)
    none = admin.get("/postback-log", params={"network_id": str(other.network_id)}).text
    assert '<tr data-id="' not in none and "No postbacks match these filters." in none


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/clicks?campaign_id=abc", "campaign: input should be a valid integer"),
        ("/clicks?clickid=not-ours", "click ID: ours are 26 letters and digits"),
        ("/clicks?cursor=%27%3B--", "cursor: not a position this list gave"),
        ("/clicks?campaign=1", "unknown parameters: campaign"),
        ("/conversions?status=lost", "status: input should be"),
        ("/conversions?from=2024-13-01", "is not a date such as 2024-03-31"),
        ("/conversions?from=2024-03-05&to=2024-03-01", "must not be after the last day"),
        ("/conversions?campaign_id=99999999999", "campaign: input should be less than"),
        ("/postback-log?reason=nope", "&#39;nope&#39; is not a reason code"),
        ("/postback-log?outcome=maybe", "outcome must be one of"),
        ("/postback-log?network_id=-1", "network: input should be greater than"),
        ("/deliveries?state=lost", "state: must be one of"),
        ("/deliveries?traffic_source_id=x", "traffic source: input should be a valid integer"),
        ("/clicks?clickid=%00", "clickid must not contain NUL characters"),
    ],
)
def test_bad_filters_are_a_400_page_that_says_what_is_wrong(
    admin: httpx.Client, path: str, message: str
) -> None:
    resp = admin.get(path)
    assert resp.status_code == 400, resp.text
    assert "text/html" in resp.headers["content-type"]
    assert message in resp.text
    assert 'role="alert"' in resp.text
    assert "<form" in resp.text  # the filters are still there to fix


@pytest.mark.parametrize(
    "path",
    [
        "/clicks/NOTACLICK",
        f"/clicks/{UNKNOWN_CLICK}",
        f"/conversions/{UNKNOWN_CLICK}",
        "/conversions/%00",
        f"/postback-log/{UNKNOWN_CLICK}",
        "/postback-log/x'--",
        f"/deliveries/{UNKNOWN_CLICK}",
        "/deliveries/" + "Z" * 64,
    ],
)
def test_unknown_ids_are_404_pages(admin: httpx.Client, path: str) -> None:
    resp = admin.get(path)
    assert resp.status_code == 404, resp.text
    assert "text/html" in resp.headers["content-type"]


def test_click_log_pages_newest_first_with_and_without_a_campaign(
    live: LiveServer, http: httpx.Client, admin: httpx.Client
) -> None:
    busy, quiet = make_setup(live), make_setup(live)
    made = [click(http, busy, zone=str(i)) for i in range(PAGE_SIZE + 3)]
    made += [click(http, quiet) for _ in range(2)]
    newest_first = sorted(made, reverse=True)

    first = admin.get("/clicks")
    assert first.status_code == 200
    shown = first_column_ids(first.text, "clicks")
    assert shown == newest_first[:PAGE_SIZE]
    older = re.search(r'href="(/clicks\?cursor=[0-9A-Z]{26})" rel="next"', first.text)
    assert older is not None
    second = admin.get(older.group(1))
    assert first_column_ids(second.text, "clicks") == newest_first[PAGE_SIZE:]
    assert 'rel="next"' not in second.text

    # With a campaign the page goes by (created_at, id), newest first: two clicks made in the
    # same millisecond can have their ids, random after the time, the other way round.
    with live.runtime.db.session() as s:
        made_at = dict(
            s.execute(select(Click.id, Click.created_at).where(Click.id.in_(made))).all()
        )
    busy_only = sorted(made[: PAGE_SIZE + 3], key=lambda c: (made_at[c], c), reverse=True)
    page1 = admin.get("/clicks", params={"campaign_id": busy.campaign_id, "clickid": ""})
    assert first_column_ids(page1.text, "clicks") == busy_only[:PAGE_SIZE]
    older = re.search(r'href="(/clicks\?[^"]*cursor=[0-9A-Z]{26}[^"]*)" rel="next"', page1.text)
    assert older is not None and f"campaign_id={busy.campaign_id}" in older.group(1)
    page2 = admin.get(older.group(1).replace("&amp;", "&"))
    assert first_column_ids(page2.text, "clicks") == busy_only[PAGE_SIZE:]

    one = admin.get("/clicks", params={"clickid": made[-1].lower()})
    assert first_column_ids(one.text, "clicks") == [made[-1]]
    elsewhere = admin.get("/clicks", params={"clickid": made[-1], "campaign_id": busy.campaign_id})
    assert first_column_ids(elsewhere.text, "clicks") == []


def test_conversions_filter_by_campaign_and_status_and_show_their_history(
    live: LiveServer, http: httpx.Client, admin: httpx.Client
) -> None:
    setup = make_setup(live, network={"duplicate_mode": "update"})
    other = make_setup(live)
    cid = click(http, setup)
    conversion_id = convert(http, setup, cid, "5", txid="A-1")
    convert(http, setup, cid, "5", txid="A-1", status="rejected")
    convert(http, other, click(http, other), "1")

    every = admin.get("/conversions").text
    assert len(first_column_ids(every, "conversions")) == 2
    mine = admin.get("/conversions", params={"campaign_id": setup.campaign_id}).text
    assert first_column_ids(mine, "conversions") == [conversion_id]
    rejected = admin.get("/conversions", params={"status": "rejected"}).text
    assert first_column_ids(rejected, "conversions") == [conversion_id]
    today = admin.get("/conversions", params={"from": "2000-01-01", "to": "2000-01-02"}).text
    assert first_column_ids(today, "conversions") == []

    page = admin.get(f"/conversions/{conversion_id.lower()}")
    assert page.status_code == 200
    history = page.text.split('id="history"')[1].split("</table>")[0]
    assert "new → approved" in history and "approved → rejected" in history
    assert "-5.00" in history  # the rejection reversed the revenue
    postbacks = page.text.split('id="postbacks"')[1].split("</table>")[0]
    assert postbacks.count('href="/postback-log/') == 2
    assert postbacks.count('<span class="badge updated">') == 1


def test_postback_dry_run_replay_shows_each_steps_verdict_and_writes_nothing(
    live: LiveServer, http: httpx.Client, admin: httpx.Client
) -> None:
    setup = make_setup(live)
    refused_postback(http, setup)
    [entry_id] = live_log_ids(live)
    page = admin.get(f"/postback-log/{entry_id}")
    before = (count(live, PostbackLogEntry), count(live, Conversion))
    resp = admin.post(f"/postback-log/{entry_id}/replay", data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 200, resp.text
    steps = re.findall(
        r'<tr class="step (\w+)">\s*<th scope="row">[^<]*<code class="hint">([\w.]+)', resp.text
    )
    verdicts = {step: verdict for verdict, step in steps}
    assert verdicts["receive"] == "pass"
    assert verdicts["find_click"] == "refused"
    assert verdicts["check_window"] == "skipped"
    assert "Today this postback would be: <code>unknown_click</code>" in resp.text
    assert (count(live, PostbackLogEntry), count(live, Conversion)) == before


def test_viewers_may_not_replay_and_forms_without_the_csrf_token_are_refused(
    live: LiveServer,
    http: httpx.Client,
    admin: httpx.Client,
    viewer: httpx.Client,
    receiver: Receiver,
) -> None:
    delivery = dead_delivery(live, http, receiver.url, "fail")
    refused_postback(http, make_setup(live))
    entry_id = live_log_ids(live)[0]
    actions = [f"/postback-log/{entry_id}/replay", f"/deliveries/{delivery.id}/replay"]
    viewer_token = csrf_of(viewer.get("/clicks").text)
    for action in actions:
        refused = viewer.post(action, data={"csrf_token": viewer_token})
        assert refused.status_code == 403, refused.text
        assert "can look but not change" in refused.text
        forged = admin.post(action, data={"csrf_token": "x" * 43})
        assert forged.status_code == 403 and "reload the page" in forged.text
        bare = admin.post(action)
        assert bare.status_code == 403
    with live.runtime.db.session() as s:
        assert s.get(Delivery, delivery.id).state == "dead"


def test_an_admin_replays_a_dead_delivery_and_the_worker_sends_it_again(
    live: LiveServer, http: httpx.Client, admin: httpx.Client, receiver: Receiver
) -> None:
    from tests.debugdata import run_worker

    delivery = dead_delivery(live, http, receiver.url, "flaky")
    page = admin.get(f"/deliveries/{delivery.id}")
    assert "down for maintenance" in page.text  # the first attempt's answer
    resp = admin.post(f"/deliveries/{delivery.id}/replay", data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/deliveries/{delivery.id}?replayed=1"
    queued = admin.get(resp.headers["location"]).text
    assert "Queued again" in queued and '<span class="badge pending">' in queued
    assert run_worker(live) == 1
    done = admin.get(f"/deliveries/{delivery.id}").text
    assert '<span class="badge delivered">' in done
    assert len(re.findall(r'<tr>\s*<th scope="row">\d+</th>', done)) == 2
    assert len(receiver.hits) == 2
    dead = admin.get("/deliveries", params={"state": "dead"}).text
    assert first_column_ids(dead, "deliveries") == []
    delivered = admin.get("/deliveries", params={"state": "delivered"}).text
    assert first_column_ids(delivered, "deliveries") == [delivery.id]


def test_a_conversion_history_says_who_made_each_change(
    live: LiveServer, http: httpx.Client, api: httpx.Client, admin: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    made = api.post("/api/v1/conversions", json={"clickid": cid, "payout": "3"})
    assert made.status_code == 201, made.text
    conversion_id = made.json()["id"]
    changed = api.patch(f"/api/v1/conversions/{conversion_id}", json={"status": "rejected"})
    assert changed.status_code == 200, changed.text
    page = admin.get(f"/conversions/{conversion_id}")
    history = page.text.split('id="history"')[1].split("</table>")[0]
    assert history.count("by hand (API key #") == 2
    assert "the postback" not in history
