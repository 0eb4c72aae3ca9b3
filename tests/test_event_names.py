"""Event names exactly as sent (Knorex XPO: "the Name matches exactly what is passed through
the Postback URL"): stored, matched, reported and forwarded with their case, over real HTTP;
case-insensitive only where a network or traffic source says its system is."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from postback.config import Settings
from postback.deliveries.worker import DeliveryWorker
from postback.kit.db import normalize_url
from postback.kit.migrate import upgrade
from postback.models import Conversion
from postback.reports.aggregator import Aggregator
from postback.templates.schemas import Template
from tests.conftest import DATABASES, LiveServer, scratch_database
from tests.factories import Setup, click, make_setup
from tests.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def fire(http: httpx.Client, setup: Setup, query: str) -> httpx.Response:
    return http.get(f"/postback/{setup.network_key}?{query}&token={setup.token}")


def events(live: LiveServer) -> list[str]:
    with live.runtime.db.session() as s:
        return sorted(s.scalars(select(Conversion.event)).all())


def deliver_now(live: LiveServer) -> int:
    w = DeliveryWorker(live.settings, live.runtime.db, name="test-worker")

    async def once() -> int:
        try:
            return await w.run_once(datetime.now(UTC))
        finally:
            await w.client.aclose()

    return asyncio.run(once())


def knorex_source(receiver: Receiver) -> dict[str, object]:
    # The goal's S2S URL pasted from XPO, with kcid={external_id} (templates/knorex.toml).
    return {"postback_url": f"{receiver.url}/s2s?kcid={{external_id}}&goal={{event}}"}


def test_lead_form_submit_is_stored_reported_and_forwarded_as_sent(
    live: LiveServer, http: httpx.Client, api: httpx.Client, receiver: Receiver
) -> None:
    setup = make_setup(live, source=knorex_source(receiver))
    cid = click(http, setup, subid="KCID-1")
    resp = fire(http, setup, f"clickid={cid}&event=LeadFormSubmit&payout=1")
    assert resp.status_code == 200, resp.text
    assert events(live) == ["LeadFormSubmit"]
    [item] = api.get("/api/v1/conversions", params={"event": "LeadFormSubmit"}).json()["items"]
    assert item["event"] == "LeadFormSubmit"
    assert api.get("/api/v1/conversions", params={"event": "leadformsubmit"}).json()["items"] == []
    assert deliver_now(live) == 1
    assert [h.query for h in receiver.hits] == ["kcid=KCID-1&goal=LeadFormSubmit"]
    today = datetime.now(UTC).date()
    params = {
        "group_by": "campaign",
        "tz": "UTC",
        "from": (today - timedelta(days=1)).isoformat(),
        "to": today.isoformat(),
    }

    def reported() -> dict[str, int]:
        [row] = api.get("/api/v1/reports", params=params).json()["rows"]
        return dict(row["events"])

    assert reported() == {"LeadFormSubmit": 1}
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        Aggregator(engine).catch_up(datetime.now(UTC) + timedelta(seconds=1))
    finally:
        engine.dispose()
    assert reported() == {"LeadFormSubmit": 1}


def test_a_different_case_is_a_different_event_by_default(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    for event in ("LeadFormSubmit", "leadformsubmit", "LeadFormSubmit"):
        assert fire(http, setup, f"clickid={cid}&event={event}").status_code == 200
    assert events(live) == ["LeadFormSubmit", "leadformsubmit"]


def test_a_case_insensitive_network_counts_both_spellings_once(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, network={"events_case_insensitive": True})
    cid = click(http, setup)
    assert fire(http, setup, f"clickid={cid}&event=LeadFormSubmit").status_code == 200
    resp = fire(http, setup, f"clickid={cid}&event=leadformsubmit")
    assert resp.text.strip() == "OK duplicate"
    assert events(live) == ["LeadFormSubmit"]  # kept as first sent


def test_duplicate_modes_per_event_match_exactly_unless_the_network_ignores_case(
    live: LiveServer, http: httpx.Client
) -> None:
    modes = {"duplicate_modes": {"Rebill": "new_per_txid"}}
    exact = make_setup(live, network=modes)
    cid = click(http, exact)
    for txid in ("1", "2"):
        assert fire(http, exact, f"clickid={cid}&event=rebill&txid={txid}").status_code == 200
    assert events(live) == ["rebill"]  # `rebill` is not `Rebill`: the default mode, ignore
    folded = make_setup(live, network={**modes, "events_case_insensitive": True})
    cid = click(http, folded)
    for txid in ("1", "2"):
        assert fire(http, folded, f"clickid={cid}&event=rebill&txid={txid}").status_code == 200
    assert events(live) == ["rebill", "rebill", "rebill"]


@pytest.mark.parametrize(("insensitive", "fired"), [(False, 1), (True, 2)])
def test_a_sources_event_filter_matches_exactly_unless_it_ignores_case(
    live: LiveServer, http: httpx.Client, receiver: Receiver, insensitive: bool, fired: int
) -> None:
    source = {
        **knorex_source(receiver),
        "postback_events": ["LeadFormSubmit"],
        "events_case_insensitive": insensitive,
    }
    setup = make_setup(live, source=source)
    for event in ("LeadFormSubmit", "leadformsubmit"):
        cid = click(http, setup, subid=event)
        assert fire(http, setup, f"clickid={cid}&event={event}").status_code == 200
    assert deliver_now(live) == fired
    sent = sorted(h.query for h in receiver.hits)
    assert sent[0] == "kcid=LeadFormSubmit&goal=LeadFormSubmit"
    if insensitive:
        assert sent[1] == "kcid=leadformsubmit&goal=leadformsubmit"  # forwarded as sent


def test_the_api_keeps_event_names_in_rules_as_written(api: httpx.Client) -> None:
    resp = api.post(
        "/api/v1/networks",
        json={"name": "n", "duplicate_modes": {"Rebill": "new_per_txid"}},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["duplicate_modes"] == {"Rebill": "new_per_txid"}
    assert resp.json()["events_case_insensitive"] is False
    resp = api.post(
        "/api/v1/traffic-sources",
        json={"name": "s", "postback_events": ["LeadFormSubmit"], "events_case_insensitive": True},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["postback_events"] == ["LeadFormSubmit"]
    assert resp.json()["events_case_insensitive"] is True


def test_a_template_can_say_its_system_ignores_case() -> None:
    data = {
        "name": "x",
        "title": "X",
        "kind": "network",
        "macro_syntax": "{x}",
        "docs": ["docs/templates.md"],
        "events_case_insensitive": True,
        "network": {"offer_param": "clickid", "postback": {"clickid": "{clickid}"}},
    }
    assert Template.model_validate(data).events_case_insensitive is True
    assert Template.model_validate({**data, "events_case_insensitive": False}).network


def test_invalid_event_names_are_refused(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    for bad in ("Lead Form", "-lead", "x" * 51, "lead%00", "Ünïcode"):
        resp = http.get(
            f"/postback/{setup.network_key}",
            params=setup.with_token({"clickid": cid, "event": bad.replace("%00", "\x00")}),
        )
        assert resp.status_code == 400, bad
        assert "invalid_event" in resp.text
    assert events(live) == []


# --- the migration keeps existing events and their duplicate rule ----------------------------

COLUMNS = """id, click_id, dedupe_key, created_at, updated_at, click_at, campaign_id,
    traffic_source_id, event, status, payout_micros, revenue_micros, commission_micros,
    cost_micros, original_amount, original_currency, fx_rate, params, is_test"""
VALUES = """:id, '01J00000000000000000000C01', '', :at, :at, :at, 1, 1, :event, 'approved', 5, 5,
    0, 0, '5', 'USD', '1', '{}', false"""
BEFORE = f"INSERT INTO conversions ({COLUMNS}) VALUES ({VALUES})"
AFTER = f"INSERT INTO conversions ({COLUMNS}, event_key) VALUES ({VALUES}, :event)"
AT = "2026-01-01 00:00:00"


@pytest.fixture(params=DATABASES)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with scratch_database(request.param, tmp_path) as url:
        yield url


def test_migration_keeps_events_and_the_unique_constraint(empty_database: str) -> None:
    """Events were stored lower-cased before: each keeps its text and becomes its own key, and
    the duplicate rule still holds for it, while another case is now another event."""
    settings = Settings(database_url=empty_database, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings, "0016")
    engine = create_engine(normalize_url(empty_database))
    first = {"id": "01J00000000000000000000001", "event": "leadformsubmit", "at": AT}
    try:
        with engine.begin() as conn:
            conn.execute(text(BEFORE), first)
        upgrade(settings)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT event, event_key, amount_micros FROM conversions"))
            assert list(map(tuple, row)) == [("leadformsubmit", "leadformsubmit", None)]
        again = {**first, "id": "01J00000000000000000000002"}
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(AFTER), again)
        with engine.begin() as conn:
            conn.execute(text(AFTER), {**again, "event": "LeadFormSubmit"})
    finally:
        engine.dispose()
