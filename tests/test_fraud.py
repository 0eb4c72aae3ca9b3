"""Fraud signals over real HTTP: each flag on the click or conversion it belongs to, in the API
and the debugger pages, in reports (filter and group, rollups and raw rows alike), in a
campaign rule, and keeping flagged conversions from firing outbound postbacks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from postback.kit.ids import ulid_floor
from postback.reports.aggregator import Aggregator
from tests.conftest import LiveServer
from tests.factories import Setup, make_setup
from tests.signin import make_user, signed_in_client

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GB_IP = "81.2.69.142"  # a British home-broadband address in the shipped GeoIP data
US_IP = "8.8.8.8"
AWS_IP = "3.5.140.2"


@pytest.fixture
def proxied(live: LiveServer) -> Iterator[LiveServer]:
    """The test client is a trusted proxy, so X-Forwarded-For names each click's IP."""
    live.runtime.trusted_proxies = frozenset({"127.0.0.1"})
    yield live
    live.runtime.trusted_proxies = frozenset()


def fresh_ip() -> str:
    # The burst window lives as long as the process (both databases' runs): a new IP per test.
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def click(http: httpx.Client, setup: Setup, ip: str, agent: str = CHROME) -> httpx.Response:
    headers = {"x-forwarded-for": ip, "user-agent": agent}
    resp = http.get(f"/c/{setup.campaign_key}", headers=headers, params={"zone": "z1"})
    assert resp.status_code == 302, resp.text
    return resp


def click_id(resp: httpx.Response) -> str:
    return httpx.URL(resp.headers["location"]).params["click"]


def click_flags(api: httpx.Client, clickid: str) -> list[str]:
    resp = api.get(f"/api/v1/clicks/{clickid}")
    assert resp.status_code == 200, resp.text
    flags: list[str] = resp.json()["flags"]
    return flags


def postback(http: httpx.Client, setup: Setup, clickid: str, **params: str) -> str:
    resp = http.get(f"/postback/{setup.network_key}", params=setup.with_token(
        {"clickid": clickid, **params}
    ))  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.text.startswith("OK accepted"), resp.text
    return resp.text.split()[-1]


def conversion(api: httpx.Client, conversion_id: str) -> dict[str, Any]:
    resp = api.get(f"/api/v1/conversions/{conversion_id}")
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()
    return found


def age_click(live: LiveServer, clickid: str, by: timedelta) -> str:
    """Move a click back in time, as if its visitor had taken `by` to convert; returns its new
    ID (a click's ID carries its time, and reports find clicks by it)."""
    with live.runtime.db.engine.begin() as conn:
        row = conn.execute(text("SELECT created_at FROM clicks WHERE id = :id"), {"id": clickid})
        at = row.scalar_one()
        at = datetime.fromisoformat(at) if isinstance(at, str) else at
        at = (at if at.tzinfo else at.replace(tzinfo=UTC)) - by
        new = ulid_floor(at)[:10] + clickid[10:]
        conn.execute(
            text("UPDATE clicks SET id = :new, created_at = :at WHERE id = :id"),
            {"new": new, "at": at.replace(tzinfo=None) if live.settings.is_sqlite else at,
             "id": clickid},
        )  # fmt: skip
    return new


# --- clicks ------------------------------------------------------------------------------


def test_a_known_crawler_or_http_tool_is_flagged_bot(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    for agent, expected in ((GOOGLEBOT, ["bot"]), ("curl/8.5.0", ["bot"]), (CHROME, [])):
        clickid = click_id(click(http, setup, fresh_ip(), agent))
        assert click_flags(api, clickid) == expected, agent


def test_a_click_from_a_cloud_provider_range_is_flagged_datacenter_ip(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    assert click_flags(api, click_id(click(http, setup, AWS_IP))) == ["datacenter_ip"]
    assert click_flags(api, click_id(click(http, setup, "2600:1f18::1"))) == ["datacenter_ip"]
    assert click_flags(api, click_id(click(http, setup, GB_IP))) == []


def test_clicks_past_the_burst_limit_from_one_ip_are_flagged_and_others_are_not(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    ip = fresh_ip()
    limit = proxied.settings.fraud_burst_clicks
    ids = [click_id(click(http, setup, ip)) for _ in range(limit + 2)]
    assert [click_flags(api, i) for i in ids[:limit]] == [[]] * limit
    assert click_flags(api, ids[limit]) == ["ip_burst"]
    assert click_flags(api, ids[limit + 1]) == ["ip_burst"]
    assert click_flags(api, click_id(click(http, setup, fresh_ip()))) == []  # another IP


def test_registered_clicks_carry_their_flags_in_the_answer(
    live: LiveServer, api: httpx.Client
) -> None:
    setup = make_setup(live)
    body = {"campaign_key": setup.campaign_key, "ip": AWS_IP, "user_agent": GOOGLEBOT}
    resp = api.post("/api/v1/clicks", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["flags"] == ["bot", "datacenter_ip"]


# --- conversions ---------------------------------------------------------------------------


def test_a_conversion_sooner_than_the_threshold_is_flagged_fast_conversion(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    quick = click_id(click(http, setup, GB_IP))
    assert conversion(api, postback(http, setup, quick))["flags"] == ["fast_conversion"]
    slow = click_id(click(http, setup, GB_IP))
    slow = age_click(proxied, slow, timedelta(minutes=5))
    assert conversion(api, postback(http, setup, slow))["flags"] == []


def test_the_user_ip_a_network_reports_is_compared_with_the_clicks(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied, network={"duplicate_mode": "new_per_txid"})
    clickid = click_id(click(http, setup, GB_IP))
    clickid = age_click(proxied, clickid, timedelta(hours=1))
    same = postback(http, setup, clickid, txid="T1", user_ip=GB_IP)
    assert conversion(api, same)["flags"] == []
    elsewhere = postback(http, setup, clickid, txid="T2", ip=US_IP)
    assert conversion(api, elsewhere)["flags"] == [
        "geo_mismatch",
        "ip_mismatch",
        "multi_ip_click",
    ]
    # A country alone (no IP) is compared too; the same country is no signal.
    assert conversion(api, postback(http, setup, clickid, txid="T3", country="us"))["flags"] == [
        "geo_mismatch"
    ]
    assert conversion(api, postback(http, setup, clickid, txid="T4", country="GB"))["flags"] == []
    # Not an IP: nothing to compare, nothing flagged, the conversion still counts.
    assert conversion(api, postback(http, setup, clickid, txid="T5", ip="{ip}"))["flags"] == []


def test_a_click_id_reported_from_two_user_ips_is_flagged_multi_ip_click(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    clickid = click_id(click(http, setup, GB_IP))
    clickid = age_click(proxied, clickid, timedelta(hours=1))
    first = postback(http, setup, clickid, event="lead", user_ip="81.2.69.160")
    assert conversion(api, first)["flags"] == ["ip_mismatch"]
    second = postback(http, setup, clickid, event="sale", user_ip="81.2.69.161")
    assert conversion(api, second)["flags"] == ["ip_mismatch", "multi_ip_click"]


def test_a_payout_far_above_the_offers_is_flagged_payout_outlier(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied, offer={"payout_micros": 2_000_000})
    clickid = click_id(click(http, setup, GB_IP))
    clickid = age_click(proxied, clickid, timedelta(hours=1))
    fair = postback(http, setup, clickid, payout="20", event="lead")
    assert conversion(api, fair)["flags"] == []
    big = postback(http, setup, clickid, payout="20.01", event="sale")
    assert conversion(api, big)["flags"] == ["payout_outlier"]


def test_a_conversion_carries_its_clicks_flags(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    clickid = click_id(click(http, setup, AWS_IP, GOOGLEBOT))
    clickid = age_click(proxied, clickid, timedelta(hours=1))
    assert conversion(api, postback(http, setup, clickid))["flags"] == ["bot", "datacenter_ip"]


# --- reports -------------------------------------------------------------------------------


def report(api: httpx.Client, **params: str) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    query = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    resp = api.get("/api/v1/reports", params={**query, **params})
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()
    return found


def _rows(found: dict[str, Any], *keys: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(row[k] for k in keys) for row in found["rows"])


def test_reports_group_and_filter_by_fraud_flags_the_same_from_rollups_and_raw_rows(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    bot = click_id(click(http, setup, AWS_IP, GOOGLEBOT))
    person = click_id(click(http, setup, GB_IP))
    click(http, setup, GB_IP)
    person = age_click(proxied, person, timedelta(hours=1))
    postback(http, setup, bot, payout="1")
    postback(http, setup, person, payout="2")
    asks = [
        {"group_by": "fraud"},
        {"group_by": "fraud,country"},
        {"group_by": "fraud,token.zone"},  # no rollup keeps a token with the flags: raw rows
        {"group_by": "campaign", "fraud": "bot"},
        {"group_by": "campaign", "flag": "none"},
        {"group_by": "campaign", "fraud": "any"},
        {"group_by": "country", "fraud": "datacenter_ip,fast_conversion"},
    ]
    keys = ("clicks", "conversions", "revenue")
    before = [_rows(report(api, **ask), *ask["group_by"].split(","), *keys) for ask in asks]
    engine = proxied.runtime.db.engine
    Aggregator(engine, lag=timedelta(0)).catch_up(datetime.now(UTC) + timedelta(seconds=1))
    after = [_rows(report(api, **ask), *ask["group_by"].split(","), *keys) for ask in asks]
    assert before == after
    by_flag = dict(((r[0]), r[1:]) for r in after[0])
    assert by_flag == {
        "bot,datacenter_ip": (1, 0, "0"),
        "bot,datacenter_ip,fast_conversion": (0, 1, "1"),
        "none": (2, 1, "2"),
    }
    campaign = setup.campaign_id
    assert after[3] == [(campaign, 1, 1, "1")]
    assert after[4] == [(campaign, 2, 1, "2")]
    assert after[5] == [(campaign, 1, 1, "1")]


def test_an_unknown_fraud_flag_in_a_report_filter_is_a_422(
    live: LiveServer, api: httpx.Client
) -> None:
    resp = api.get("/api/v1/reports", params={"fraud": "bot,robot"})
    assert resp.status_code == 422, resp.text
    assert "'robot' is not a fraud flag" in resp.text


# --- campaign rules and outbound postbacks ----------------------------------------------------


def test_a_rule_on_flags_sends_flagged_clicks_down_another_path(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    other = api.post(
        "/api/v1/offers", json={"name": "safe", "url": "https://safe.test/?c={clickid}"}
    )
    assert other.status_code == 201, other.text
    paths = [
        {"name": "main", "weight": 100, "offers": [{"offer_id": setup.offer_id}]},
        {"name": "flagged", "weight": 0, "offers": [{"offer_id": other.json()["id"]}]},
    ]
    rules = [{"name": "bots", "when": {"flags": ["bot", "datacenter_ip"]}, "path": "flagged"}]
    resp = api.patch(
        f"/api/v1/campaigns/{setup.campaign_id}", json={"paths": paths, "rules": rules}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["rules"][0]["when"] == {"flags": ["bot", "datacenter_ip"]}
    proxied.runtime.routes.clear()
    assert click(http, setup, fresh_ip(), GOOGLEBOT).headers["location"].startswith("https://safe")
    assert click(http, setup, AWS_IP).headers["location"].startswith("https://safe")
    assert click(http, setup, GB_IP).headers["location"].startswith("https://offer")
    bad = {"rules": [{"name": "x", "when": {"flags": ["robot"]}, "path": "flagged"}]}
    assert api.patch(f"/api/v1/campaigns/{setup.campaign_id}", json=bad).status_code == 422


def test_a_source_skipping_flags_gets_no_postback_for_flagged_conversions(
    proxied: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(proxied)
    url = "https://source.test/pb?sub={external_id}&payout={payout}"
    change = {"postback_url": url, "postback_skip_flags": ["fast_conversion", "bot"]}
    resp = api.patch(f"/api/v1/traffic-sources/{setup.source_id}", json=change)
    assert resp.status_code == 200, resp.text
    assert resp.json()["postback_skip_flags"] == ["bot", "fast_conversion"]
    fast = click_id(click(http, setup, GB_IP))
    slow = click_id(click(http, setup, GB_IP))
    slow = age_click(proxied, slow, timedelta(hours=1))
    skipped = postback(http, setup, fast)
    sent = postback(http, setup, slow)
    assert _deliveries(api, skipped) == 0
    assert _deliveries(api, sent) == 1
    bad = {"postback_skip_flags": ["robot"]}
    resp = api.patch(f"/api/v1/traffic-sources/{setup.source_id}", json=bad)
    assert resp.status_code == 422, resp.text


def _deliveries(api: httpx.Client, conversion_id: str) -> int:
    resp = api.get("/api/v1/deliveries", params={"conversion_id": conversion_id})
    assert resp.status_code == 200, resp.text
    return len(resp.json()["items"])


# --- dashboard -----------------------------------------------------------------------------


def test_the_click_and_conversion_pages_say_the_flags_in_plain_words(
    proxied: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(proxied)
    clickid = click_id(click(http, setup, AWS_IP, GOOGLEBOT))
    conversion_id = postback(http, setup, clickid)
    with signed_in_client(proxied, make_user(proxied)) as browser:
        page = browser.get(f"/clicks/{clickid}")
        assert page.status_code == 200, page.text
        assert "Known bot, crawler or HTTP tool" in page.text
        assert "data centre" in page.text
        page = browser.get(f"/conversions/{conversion_id}")
        assert page.status_code == 200, page.text
        assert "Converted too soon after the click" in page.text
        assert "<code>fast_conversion</code>" in page.text
