"""The click redirect with hostile input: a visitor is never refused for its headers or
tokens, no batch of clicks falls back to one commit per row, and no value picks the host."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, select

from postback.kit.db import normalize_url
from postback.models import Campaign, Click, Offer, ReportClickToken
from postback.reports.aggregator import Aggregator
from tests.conftest import ADMIN_KEY, LiveServer
from tests.factories import make_setup

BOT = "Mozilla/5.0 (compatible; " + "A" * 120 + "bot/1.0)"
ZONED_IP = "fe80::1%" + "e" * 100  # a valid IPv6 address with a zone, longer than the column


def stored_clicks(live: LiveServer) -> list[Click]:
    with live.runtime.db.session() as s:
        return list(s.scalars(select(Click)))


def test_a_long_bot_user_agent_is_cut_to_its_columns(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    resp = http.get(f"/c/{setup.campaign_key}", headers={"User-Agent": BOT})
    assert resp.status_code == 302, resp.text
    [stored] = stored_clicks(live)
    assert (stored.device, stored.browser) == ("bot", stored.browser[:50])
    assert len(stored.browser or "") <= 50


def test_a_long_forwarded_address_falls_back_to_the_peer(
    live: LiveServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live.runtime, "trusted_proxies", frozenset({"127.0.0.1"}))
    setup = make_setup(live)
    resp = http.get(f"/c/{setup.campaign_key}", headers={"X-Forwarded-For": ZONED_IP})
    assert resp.status_code == 302, resp.text
    [stored] = stored_clicks(live)
    assert stored.ip == "127.0.0.1"


def test_nul_in_tokens_and_the_external_id_is_stored_without_it(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    resp = http.get(f"/c/{setup.campaign_key}?subid=ext%00one&zone%00=a%00&x=" + "y" * 300)
    assert resp.status_code == 302, resp.text
    [stored] = stored_clicks(live)
    assert stored.external_id == "ext\ufffdone"
    assert stored.tokens["zone\ufffd"] == "a\ufffd"
    assert len(stored.tokens["x"]) == 255


def test_hostile_clicks_in_one_batch_never_fall_back_to_one_commit_per_row(
    live: LiveServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live.runtime, "trusted_proxies", frozenset({"127.0.0.1"}))
    setup = make_setup(live)
    hostile = [
        {"User-Agent": BOT},
        {"X-Forwarded-For": ZONED_IP},
        {"Referer": "https://r.test/" + "r" * 3000},
        {"Accept-Language": "x" * 500},
    ]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            sends = [
                client.get(f"/c/{setup.campaign_key}?subid=a%00{i}", headers=hostile[i % 4])
                for i in range(40)
            ]
            return [r.status_code for r in await asyncio.gather(*sends)]

    with caplog.at_level(logging.WARNING, logger="postback.writer"):
        codes = asyncio.run(burst())
    assert codes == [302] * 40
    assert len(stored_clicks(live)) == 40
    assert not [r for r in caplog.records if r.name == "postback.writer"]


def test_a_paused_campaign_with_a_non_latin1_fallback_redirects(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    with live.runtime.db.session() as s:
        camp = s.get(Campaign, setup.campaign_id)
        assert camp is not None
        camp.status, camp.fallback_url = "paused", "https://fallback.test/страница?q=€"
    resp = http.get(f"/c/{setup.campaign_key}")
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith("https://fallback.test/%D1%81%D1%82")
    assert location.endswith("?q=%E2%82%AC")


@pytest.mark.parametrize(
    "url",
    [
        "https://{zone}/offer?c={clickid}",
        "https://offer.test{zone}/?c={clickid}",
        "https://{user}@offer.test/?c={clickid}",
        "https://offer.test:{port}/?c={clickid}",
    ],
)
def test_a_value_never_changes_the_host_of_a_stored_offer_url(
    live: LiveServer, http: httpx.Client, url: str
) -> None:
    setup = make_setup(live)
    with live.runtime.db.session() as s:  # saved before the linter refused such URLs
        offer = s.get(Offer, setup.offer_id)
        assert offer is not None
        offer.url = url
    params = {"zone": "evil.test/", "user": "evil.test", "port": "1@evil.test"}
    resp = http.get(f"/c/{setup.campaign_key}", params=params)
    assert resp.status_code == 302, resp.text
    host = urlsplit(resp.headers["location"]).netloc
    assert "evil" not in host


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("/api/v1/offers", "url", {"name": "o", "url": "https://{zone}/?c={clickid}"}),
        ("/api/v1/offers", "url", {"name": "o", "url": "https://a.test:{port}/?c={clickid}"}),
        ("/api/v1/landers", "url", {"name": "l", "url": "https://{sub1}.test/?c={clickid}"}),
        ("/api/v1/landers", "url", {"name": "l", "url": "https://{u}@lander.test/{clickid}"}),
    ],
)
def test_saving_a_url_with_a_macro_in_its_host_is_refused(
    live: LiveServer, path: str, field: str, body: dict[str, str]
) -> None:
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
        resp = api.post(path, json=body)
    assert resp.status_code == 422, resp.text
    codes = {(f["field"], f.get("code")) for f in resp.json()["fields"]}
    assert (field, "macro_in_host") in codes


def test_a_fallback_url_with_a_macro_in_its_host_is_refused(live: LiveServer) -> None:
    setup = make_setup(live)
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
        resp = api.patch(
            f"/api/v1/campaigns/{setup.campaign_id}", json={"fallback_url": "https://{x}.test/"}
        )
    assert resp.status_code == 422, resp.text
    codes = {(f["field"], f.get("code")) for f in resp.json()["fields"]}
    assert ("fallback_url", "macro_in_host") in codes


def test_the_report_fold_takes_tokens_stored_before_they_were_bounded(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    http.get(f"/c/{setup.campaign_key}")
    hostile = {"zone\x00": "a\x00b", "n" * 80: "v" * 400, "nested": {"a": [1]}}
    with live.runtime.db.session() as s:
        stored = s.scalars(select(Click)).one()
        stored.tokens = hostile  # as a click stored by an older version may hold them
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        Aggregator(engine).catch_up(datetime.now(UTC) + timedelta(seconds=1))
    finally:
        engine.dispose()
    with live.runtime.db.session() as s:
        names = {row.name: row.value for row in s.scalars(select(ReportClickToken))}
    assert names == {
        "zone\ufffd": "a\ufffdb",
        "n" * 50: "v" * 255,
        "nested": "{'a': [1]}",
    }
