"""Configuration that matters for money or security, changed through one process, is live in
another within a bounded time: the cache's TTL plus its stale limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from postback.clicks.redirect import get_route
from postback.conversions import service
from postback.conversions.records import PostbackRequest
from postback.kit.cache import TTLCache
from postback.runtime import Runtime
from tests.conftest import LiveServer
from tests.factories import click, make_setup

TTL = 0.3
STALE = 0.3


@pytest.fixture
def other_process(live: LiveServer) -> Iterator[Runtime]:
    """A second server's runtime on the same database, with short cache times."""
    settings = live.settings.model_copy(update={"config_cache_ttl": timedelta(seconds=TTL)})
    runtime = Runtime.create(settings)
    runtime.routes = TTLCache(TTL, max_stale=STALE)
    runtime.networks = TTLCache(TTL, max_stale=STALE)
    yield runtime
    runtime.db.dispose()


def test_a_campaign_paused_elsewhere_stops_redirecting_within_ttl_and_the_stale_limit(
    live: LiveServer, api: httpx.Client, other_process: Runtime
) -> None:
    setup = make_setup(live)

    async def routable() -> bool:
        route = await get_route(other_process, setup.campaign_key)
        return route is not None and route.active

    async def scenario() -> bool:
        assert await routable()
        paused = api.patch(f"/api/v1/campaigns/{setup.campaign_id}", json={"status": "paused"})
        assert paused.status_code == 200, paused.text
        # Nobody clicks for a while, then one click comes.
        await asyncio.sleep(TTL + STALE + 0.2)
        return await routable()

    assert asyncio.run(scenario()) is False


def postback_with(rt: Runtime, network_key: str, cid: str, token: str) -> str:
    request = PostbackRequest(
        received_at=datetime.now(UTC),
        method="GET",
        path=f"/postback/{network_key}",
        query="",
        body="",
        source_ip="127.0.0.1",
        params={"clickid": cid, "token": token},
        network_key=network_key,
    )
    with rt.db.engine.connect() as conn:
        transaction = conn.begin()
        try:
            outcome = service.process(conn, request, rt.networks, rt.settings)
        finally:
            transaction.rollback()
    return outcome.reason.value


def test_a_rotated_network_secret_stops_working_elsewhere_within_the_ttl(
    live: LiveServer, api: httpx.Client, http: httpx.Client, other_process: Runtime
) -> None:
    setup = make_setup(live, network={"secret": "old-secret-0123456789"})
    cid = click(http, setup)
    assert postback_with(other_process, setup.network_key, cid, "old-secret-0123456789") == (
        "accepted"
    )
    rotated = api.patch(
        f"/api/v1/networks/{setup.network_id}", json={"secret": "new-secret-0123456789"}
    )
    assert rotated.status_code == 200, rotated.text
    time.sleep(TTL + 0.1)
    assert postback_with(other_process, setup.network_key, cid, "old-secret-0123456789") == (
        "bad_token"
    )
    assert postback_with(other_process, setup.network_key, cid, "new-secret-0123456789") == (
        "accepted"
    )
