"""Data for the debugger and report pages' tests, made through the real server: clicks from
several countries, refused postbacks, and outbound deliveries that a local receiver refused."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from postback.deliveries.worker import DeliveryWorker
from postback.models import Campaign, Delivery
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

# Addresses the bundled GeoIP table places in these countries.
COUNTRY_IPS = {"US": "8.8.8.8", "GB": "81.2.69.142", "DE": "5.9.0.1"}
UNKNOWN_CLICK = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def from_country(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Believe X-Forwarded-For from the test client, so clicks can come from any country."""
    monkeypatch.setattr(live.runtime, "trusted_proxies", frozenset({"127.0.0.1"}))


def country_click(http: httpx.Client, setup: Setup, country: str, **tokens: str) -> str:
    resp = http.get(
        f"/c/{setup.campaign_key}",
        params=tokens,
        headers={"X-Forwarded-For": COUNTRY_IPS[country]},
    )
    assert resp.status_code == 302, resp.text
    return resp.headers["location"].rsplit("click=", 1)[1]


def convert(http: httpx.Client, setup: Setup, clickid: str, payout: str, **extra: str) -> str:
    params = {"clickid": clickid, "payout": payout, **extra}
    resp = http.get(setup.postback, params=setup.with_token(params))
    assert resp.status_code == 200 and resp.text.startswith("OK"), resp.text
    return resp.text.split()[-1]


def refused_postback(http: httpx.Client, setup: Setup, clickid: str = UNKNOWN_CLICK) -> None:
    """A postback for a click ID nobody clicked: 404 unknown_click, kept in the log."""
    resp = http.get(setup.postback, params=setup.with_token({"clickid": clickid, "payout": "1"}))
    assert resp.status_code == 404 and "unknown_click" in resp.text, resp.text


@dataclass
class Grid:
    """Two campaigns with clicks and conversions by country (payouts in units)."""

    first: Setup
    second: Setup
    # (campaign name, country) -> (clicks, conversions, revenue)
    expected: dict[tuple[str, str], tuple[int, int, str]]


def campaigns_by_country(
    live: LiveServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> Grid:
    from_country(live, monkeypatch)
    first = make_setup(live)
    second = make_setup(live)
    rename(live, first, "Summer push")
    rename(live, second, "Winter push")
    plan = [
        (first, "Summer push", "US", 3, ["2.5", "1.25"]),
        (first, "Summer push", "GB", 2, ["4"]),
        (second, "Winter push", "DE", 2, []),
        (second, "Winter push", "US", 1, ["7"]),
    ]
    expected = {}
    for setup, name, country, clicks, payouts in plan:
        ids = [country_click(http, setup, country) for _ in range(clicks)]
        for n, (cid, payout) in enumerate(zip(ids, payouts, strict=False)):
            convert(http, setup, cid, payout, txid=f"{country}-{n}")
        total = sum((Decimal(p) for p in payouts), Decimal(0))
        expected[(name, country)] = (clicks, len(payouts), f"{total:.2f}")
    return Grid(first, second, expected)


def rename(live: LiveServer, setup: Setup, name: str) -> None:
    with live.runtime.db.session() as s:
        campaign = s.get(Campaign, setup.campaign_id)
        assert campaign is not None
        campaign.name = name


def delivery_setup(live: LiveServer, receiver_url: str, path: str) -> Setup:
    template = f"{receiver_url}/{path}?ext={{external_id}}&p={{payout}}"
    return make_setup(live, source={"postback_url": template})


def run_worker(live: LiveServer, *, retries: bool = True, later: timedelta | None = None) -> int:
    """One pass of a delivery worker, in its own thread: the browser tests' Playwright keeps an
    event loop in the main thread, where asyncio.run() would refuse to start."""
    update: dict[str, object] = {"outbound_timeout": timedelta(seconds=2)}
    if not retries:
        update["retry_schedule"] = ()
    settings = live.settings.model_copy(update=update)
    now = datetime.now(UTC) + (later or timedelta())
    done: list[int] = []

    async def once() -> None:
        worker = DeliveryWorker(settings, live.runtime.db, name="test-worker")
        try:
            done.append(await worker.run_once(now))
        finally:
            await worker.client.aclose()

    thread = threading.Thread(target=lambda: asyncio.run(once()))
    thread.start()
    thread.join(timeout=30)
    assert done, "the worker did not finish"
    return done[0]


def dead_delivery(live: LiveServer, http: httpx.Client, receiver_url: str, path: str) -> Delivery:
    """A conversion whose outbound postback failed once with no retries left: dead."""
    setup = delivery_setup(live, receiver_url, path)
    cid = click(http, setup, subid="EXT1")
    convert(http, setup, cid, "2.5")
    assert run_worker(live, retries=False) == 1
    with live.runtime.db.session() as s:
        delivery = s.scalars(
            select(Delivery).where(Delivery.traffic_source_id == setup.source_id)
        ).one()
        assert delivery.state == "dead", delivery.state
        s.expunge(delivery)
        return delivery
