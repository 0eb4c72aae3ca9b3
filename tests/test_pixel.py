"""The conversion pixel over real HTTP: GET /pixel and /pixel.js, the click's cookie, the
provisional conversion, a postback superseding it, and what a pixel may never do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from postback.conversions.pixel_receiver import GIF
from postback.kit.ratelimit import RateLimiter
from postback.models import (
    Campaign,
    Click,
    Conversion,
    ConversionStatusChange,
    Delivery,
    PostbackLogEntry,
)
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

SOURCE = {"postback_url": "http://127.0.0.1:9/pb?c={external_id}&s={status}&p={payout}"}


@pytest.fixture(autouse=True)
def no_pixel_limit(live: LiveServer) -> Iterator[None]:
    """Every test from 127.0.0.1: the pixel's per-IP limit is tested on its own."""
    kept = live.runtime.pixel_limiter
    live.runtime.pixel_limiter = RateLimiter(0, 1)
    yield
    live.runtime.pixel_limiter = kept


def pixel_setup(live: LiveServer, source: dict[str, Any] | None = None, **campaign: Any) -> Setup:
    source = {**SOURCE, **(source or {})}
    setup = make_setup(live, offer={"payout_micros": 4_000_000}, source=source)
    settings = {"pixel_enabled": True, **campaign}
    with live.runtime.db.session() as s:
        s.execute(update(Campaign).where(Campaign.id == setup.campaign_id).values(**settings))
    live.runtime.routes.clear()
    return setup


def fire(http: httpx.Client, **params: str) -> httpx.Response:
    resp = http.get("/pixel", params=params)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/gif"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.content == GIF
    return resp


def result(resp: httpx.Response) -> str:
    return resp.headers["x-postback-result"]


def conversions(live: LiveServer) -> list[tuple[Any, ...]]:
    with live.runtime.db.session() as s:
        rows = s.execute(
            select(
                Conversion.source,
                Conversion.status,
                Conversion.payout_micros,
                Conversion.revenue_micros,
                Conversion.txid,
            ).order_by(Conversion.id)
        ).all()
    return [tuple(r) for r in rows]


def ledger(live: LiveServer) -> list[tuple[Any, ...]]:
    with live.runtime.db.session() as s:
        rows = s.execute(
            select(
                ConversionStatusChange.from_status,
                ConversionStatusChange.to_status,
                ConversionStatusChange.payout_delta_micros,
                ConversionStatusChange.revenue_delta_micros,
                ConversionStatusChange.origin,
                ConversionStatusChange.source,
            ).order_by(ConversionStatusChange.id)
        ).all()
    return [tuple(r) for r in rows]


def deliveries(live: LiveServer) -> list[str]:
    with live.runtime.db.session() as s:
        return list(s.scalars(select(Delivery.status).order_by(Delivery.created_at)))


def log_reasons(live: LiveServer) -> list[str]:
    with live.runtime.db.session() as s:
        query = select(PostbackLogEntry.reason).order_by(PostbackLogEntry.id)
        return list(s.scalars(query))


# --- the image and the log -----------------------------------------------------------------


def test_the_pixel_is_a_1x1_transparent_gif() -> None:
    assert GIF[:6] == b"GIF89a" and GIF[6:10] == b"\x01\x00\x01\x00" and GIF[-1:] == b";"
    assert len(GIF) == 43


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "missing_clickid"),
        ({"clickid": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "unknown_click"),
        ({"clickid": "nope\x00" + "x" * 5000}, "unknown_click"),
        ({"clickid": "{clickid}"}, "placeholder_value"),
    ],
)
def test_a_refused_pixel_still_answers_the_image_and_logs_one_row(
    live: LiveServer, http: httpx.Client, params: dict[str, str], reason: str
) -> None:
    assert result(fire(http, **params)) == reason
    assert log_reasons(live) == [reason]
    assert conversions(live) == []


def test_the_pixel_is_off_unless_the_campaign_opts_in(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live, source=SOURCE)
    cid = click(http, setup)
    assert result(fire(http, clickid=cid)) == "pixel_disabled"
    assert log_reasons(live) == ["pixel_disabled"]
    assert conversions(live) == []


def test_other_methods_get_the_image_and_a_log_row(live: LiveServer, http: httpx.Client) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup)
    resp = http.post("/pixel", params={"clickid": cid})
    assert resp.status_code == 200 and resp.content == GIF
    assert result(resp) == "method_not_allowed"
    assert log_reasons(live) == ["method_not_allowed"]
    assert conversions(live) == []


def test_pixels_are_rate_limited_per_ip(live: LiveServer, http: httpx.Client) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup)
    live.runtime.pixel_limiter = RateLimiter(0.001, 2)
    got = [result(fire(http, clickid=cid, event=f"e{i}")) for i in range(3)]
    assert got == ["accepted", "accepted", "rate_limited"]
    assert log_reasons(live) == got
    assert len(conversions(live)) == 2


# --- the provisional conversion ------------------------------------------------------------


def test_a_pixel_records_a_provisional_conversion_that_fires_nothing(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup, subid="EXT1")
    # Money and status sent by a browser are not applied: kept in params, nothing more.
    resp = fire(http, clickid=cid, payout="999", status="approved", token="guess", ref="lp2")
    assert result(resp) == "accepted"
    assert conversions(live) == [("pixel", "pending", 4_000_000, 0, None)]
    assert ledger(live) == [(None, "pending", 4_000_000, 0, "pixel", "pixel")]
    assert deliveries(live) == []
    with live.runtime.db.session() as s:
        params = s.scalars(select(Conversion.params)).one()
        logged = s.scalars(select(PostbackLogEntry.parsed)).one()
    assert params == {"payout": "999", "status": "approved", "ref": "lp2"}
    assert "token" not in str(logged) and "guess" not in str(logged)


def test_the_campaign_may_approve_and_fire_pixel_conversions(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = pixel_setup(live, pixel_status="approved", pixel_fires_postbacks=True)
    cid = click(http, setup)
    assert result(fire(http, clickid=cid, event="lead")) == "accepted"
    assert conversions(live) == [("pixel", "approved", 4_000_000, 4_000_000, None)]
    assert deliveries(live) == ["approved"]


@pytest.mark.parametrize("name", ["cid", "click_id", "subid", "clickId", "externalid"])
def test_the_pixel_reads_the_click_id_aliases(
    live: LiveServer, http: httpx.Client, name: str
) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup)
    assert result(fire(http, **{name: cid.lower()})) == "accepted"


def test_a_click_sets_the_first_party_cookie_the_pixel_reads(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = pixel_setup(live)
    resp = http.get(f"/c/{setup.campaign_key}")
    cid = resp.cookies["pb_clickid"]
    cookie = resp.headers["set-cookie"]
    assert cookie == f"pb_clickid={cid}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
    assert http.head(f"/c/{setup.campaign_key}").headers.get("set-cookie") is None
    # No click ID in the pixel's URL: the cookie the click set finds it.
    with httpx.Client(base_url=live.url, cookies={"pb_clickid": cid}) as browser:
        assert result(fire(browser)) == "accepted"
        # A click ID in the URL wins over the cookie.
        other = click(http, setup)
        assert result(fire(browser, clickid=other)) == "accepted"
    with live.runtime.db.session() as s:
        got = set(s.scalars(select(Conversion.click_id)))
        logged = s.scalars(select(PostbackLogEntry.parsed).order_by(PostbackLogEntry.id)).all()
    assert got == {cid, other}
    assert logged[0]["params"] == {"clickid_from": "cookie"}


def test_the_lookback_window_applies(live: LiveServer, http: httpx.Client) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup)
    with live.runtime.db.session() as s:
        old = datetime.now(UTC) - timedelta(days=31)
        s.execute(update(Click).where(Click.id == cid).values(created_at=old))
    assert result(fire(http, clickid=cid)) == "outside_window"
    assert conversions(live) == []


# --- a pixel never changes money -----------------------------------------------------------


def test_a_second_pixel_changes_nothing(live: LiveServer, http: httpx.Client) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup)
    assert result(fire(http, clickid=cid)) == "accepted"
    assert result(fire(http, clickid=cid, status="approved", payout="50")) == "duplicate"
    assert conversions(live) == [("pixel", "pending", 4_000_000, 0, None)]
    assert log_reasons(live) == ["accepted", "duplicate"]


@pytest.mark.parametrize("mode", ["ignore", "update", "accumulate"])
def test_a_pixel_after_a_postback_changes_nothing(
    live: LiveServer, http: httpx.Client, mode: str
) -> None:
    setup = pixel_setup(live)
    with live.runtime.db.session() as s:
        from postback.models import Network

        s.execute(update(Network).where(Network.id == setup.network_id).values(duplicate_mode=mode))
    cid = click(http, setup)
    assert http.get(f"{setup.postback}&clickid={cid}&payout=7").text.startswith("OK accepted")
    before = (conversions(live), ledger(live), deliveries(live))
    resp = fire(http, clickid=cid, payout="70", status="rejected")
    assert result(resp) == "duplicate"
    assert (conversions(live), ledger(live), deliveries(live)) == before
    assert log_reasons(live) == ["accepted", "duplicate"]


# --- a postback supersedes the pixel -------------------------------------------------------


def test_a_postback_supersedes_the_pixel_conversion(live: LiveServer, http: httpx.Client) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup)
    fire(http, clickid=cid, event="sale")
    with live.runtime.db.session() as s:
        pixel_id = s.scalars(select(Conversion.id)).one()
    answer = http.get(f"{setup.postback}&clickid={cid}&event=sale&payout=12.5&txid=ORD-1")
    assert answer.text.strip() == f"OK accepted {pixel_id}"
    assert conversions(live) == [("postback", "approved", 12_500_000, 12_500_000, "ORD-1")]
    assert ledger(live) == [
        (None, "pending", 4_000_000, 0, "pixel", "pixel"),
        ("pending", "superseded", -4_000_000, 0, "postback", "pixel"),
        (None, "approved", 12_500_000, 12_500_000, "postback", "postback"),
    ]
    assert deliveries(live) == ["approved"]  # fired once, now, by the postback
    # The same postback again is an ordinary repeat; a pixel changes nothing any more.
    assert http.get(f"{setup.postback}&clickid={cid}&event=sale&payout=12.5").text.strip() == (
        "OK duplicate"
    )
    assert result(fire(http, clickid=cid, event="sale")) == "duplicate"
    assert len(ledger(live)) == 3 and deliveries(live) == ["approved"]


def test_the_postbacks_status_wins_even_a_pending_one(live: LiveServer, http: httpx.Client) -> None:
    every_status = {"postback_statuses": []}
    setup = pixel_setup(live, every_status, pixel_status="approved", pixel_fires_postbacks=True)
    cid = click(http, setup)
    fire(http, clickid=cid)
    assert deliveries(live) == ["approved"]
    http.get(f"{setup.postback}&clickid={cid}&payout=3&status=pending")
    assert conversions(live) == [("postback", "pending", 3_000_000, 0, None)]
    assert deliveries(live) == ["approved", "pending"]  # a new status: the source hears it


def test_a_pixel_that_fired_is_not_fired_again_for_the_same_status(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = pixel_setup(live, {"postback_statuses": []}, pixel_fires_postbacks=True)
    cid = click(http, setup)
    fire(http, clickid=cid)
    assert deliveries(live) == ["pending"]
    http.get(f"{setup.postback}&clickid={cid}&payout=6&status=pending")
    assert conversions(live) == [("postback", "pending", 6_000_000, 0, None)]
    assert deliveries(live) == ["pending"]


def test_an_admins_create_supersedes_the_pixel_too(live: LiveServer, http: httpx.Client) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup)
    fire(http, clickid=cid)
    from tests.conftest import ADMIN_KEY

    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    made = http.post(
        "/api/v1/conversions", json={"clickid": cid, "payout": "2"}, headers=headers
    ).json()
    assert made["result"] == "accepted" and made["source"] == "manual"
    assert [h["to_status"] for h in made["history"]] == ["pending", "superseded", "approved"]
    assert [h["source"] for h in made["history"]] == ["pixel", "pixel", "manual"]
    listed = http.get("/api/v1/conversions", params={"source": "manual"}, headers=headers)
    assert [c["id"] for c in listed.json()["items"]] == [made["id"]]


def test_a_postback_needs_its_token_to_supersede(live: LiveServer, http: httpx.Client) -> None:
    setup = pixel_setup(live)
    cid = click(http, setup)
    fire(http, clickid=cid)
    bad = http.get(f"/postback/{setup.network_key}?clickid={cid}&payout=9&token=wrong")
    assert bad.status_code == 403
    assert conversions(live) == [("pixel", "pending", 4_000_000, 0, None)]


def test_a_racing_pixel_and_postback_make_one_conversion(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = pixel_setup(live)
    cids = [click(http, setup) for _ in range(6)]
    start = threading.Barrier(2)

    def pixel(cid: str) -> str:
        start.wait()
        return result(fire(http, clickid=cid))

    def postback(cid: str) -> str:
        start.wait()
        return http.get(f"{setup.postback}&clickid={cid}&payout=5").text.split()[1]

    for cid in cids:
        with ThreadPoolExecutor(2) as pool:
            a, b = pool.submit(pixel, cid), pool.submit(postback, cid)
            assert b.result() == "accepted" and a.result() in ("accepted", "duplicate")
    # Whoever came first, the postback's conversion stands, once per click.
    assert conversions(live) == [("postback", "approved", 5_000_000, 5_000_000, None)] * 6
    assert len(deliveries(live)) == 6


# --- the snippet ---------------------------------------------------------------------------


def test_the_snippet_is_ours_and_fires_the_pixel(live: LiveServer, http: httpx.Client) -> None:
    resp = http.get("/pixel.js")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/javascript; charset=utf-8"
    text = resp.text
    assert '"/pixel"' in text and "pb_page_clickid" in text and "Max-Age=2592000" in text
    assert "http" not in text.replace("https:", "")  # no other host is ever named


# --- reports by source ---------------------------------------------------------------------


def test_reports_split_conversions_by_source(live: LiveServer, http: httpx.Client) -> None:
    from postback.reports.aggregator import Aggregator
    from tests.conftest import ADMIN_KEY

    setup = pixel_setup(live)
    superseded, provisional, manual = (click(http, setup) for _ in range(3))
    fire(http, clickid=superseded)
    fire(http, clickid=provisional)
    http.get(f"{setup.postback}&clickid={superseded}&payout=10")
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    http.post("/api/v1/conversions", json={"clickid": manual, "payout": "1"}, headers=headers)
    today = datetime.now(UTC).date()
    params = {
        "group_by": "conversion_source",
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=2)).isoformat(),
    }

    def by_source() -> dict[Any, tuple[int, int, int, str]]:
        body = http.get("/api/v1/reports", params=params, headers=headers).json()
        return {
            r["conversion_source"]: (r["clicks"], r["conversions"], r["pending"], r["revenue"])
            for r in body["rows"]
        }

    want = {
        None: (3, 0, 0, "0"),  # clicks have no conversion source
        "pixel": (0, 1, 1, "0"),
        "postback": (0, 1, 0, "10"),
        "manual": (0, 1, 0, "1"),
    }
    assert by_source() == want  # from the raw rows
    Aggregator(live.runtime.db.engine, lag=timedelta(0)).catch_up(
        datetime.now(UTC) + timedelta(seconds=1)
    )
    assert by_source() == want  # from the rollups
    filtered = http.get(
        "/api/v1/reports", params={**params, "source": "pixel"}, headers=headers
    ).json()
    assert [r["conversions"] for r in filtered["rows"]] == [1]


def test_the_campaign_api_sets_the_pixel(live: LiveServer, http: httpx.Client) -> None:
    from tests.conftest import ADMIN_KEY

    setup = make_setup(live)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    url = f"/api/v1/campaigns/{setup.campaign_id}"
    assert http.get(url, headers=headers).json()["pixel_enabled"] is False
    body = {"pixel_enabled": True, "pixel_status": "approved", "pixel_fires_postbacks": True}
    got = http.patch(url, json=body, headers=headers).json()
    assert {k: got[k] for k in body} == body
    bad = http.patch(url, json={"pixel_status": "refunded"}, headers=headers)
    assert bad.status_code == 422
    assert http.patch(url, json={"pixel_enabled": None}, headers=headers).status_code == 422
