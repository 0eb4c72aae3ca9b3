"""The hot paths' configuration cache: one load per key however many requests ask at once,
and an expired entry served while it is refreshed."""

from __future__ import annotations

import asyncio
import threading
import time

from postback.kit.cache import TTLCache


class SlowSource:
    """A stand-in for the database read: counts loads and can be held mid-load."""

    def __init__(self) -> None:
        self.loads = 0
        self.value = "v1"
        self.gate = threading.Event()
        self.gate.set()

    def load(self, key: str) -> str | None:
        self.loads += 1
        self.gate.wait(5)
        return None if key == "unknown" else f"{key}:{self.value}"


def test_concurrent_misses_load_once() -> None:
    cache: TTLCache[str, str] = TTLCache(60)
    source = SlowSource()
    source.gate.clear()

    async def main() -> list[str | None]:
        asks = [asyncio.ensure_future(cache.fetch("camp", source.load)) for _ in range(50)]
        await asyncio.sleep(0.05)
        source.gate.set()
        return await asyncio.gather(*asks)

    assert asyncio.run(main()) == ["camp:v1"] * 50
    assert source.loads == 1


def test_an_expired_entry_is_served_while_one_load_refreshes_it() -> None:
    cache: TTLCache[str, str] = TTLCache(0.3)
    source = SlowSource()

    async def main() -> tuple[list[str | None], str | None]:
        await cache.fetch("camp", source.load)
        source.value = "v2"
        await asyncio.sleep(0.35)  # expired now
        source.gate.clear()
        during = await asyncio.gather(*[cache.fetch("camp", source.load) for _ in range(20)])
        source.gate.set()
        await asyncio.sleep(0.05)
        after = await cache.fetch("camp", source.load)
        return list(during), after

    during, after = asyncio.run(main())
    assert during == ["camp:v1"] * 20  # no request waited for the refresh
    assert after == "camp:v2"
    assert source.loads == 2


def test_unknown_keys_are_cached_as_misses() -> None:
    cache: TTLCache[str, str] = TTLCache(60)
    source = SlowSource()

    async def main() -> list[str | None]:
        return [await cache.fetch("unknown", source.load) for _ in range(5)]

    assert asyncio.run(main()) == [None] * 5
    assert source.loads == 1


def test_a_load_begun_before_clear_is_not_kept() -> None:
    """An edit clears the cache; a read that started before the edit must not put the old
    value back for another few seconds."""
    cache: TTLCache[str, str] = TTLCache(60)
    source = SlowSource()
    source.gate.clear()

    async def main() -> str | None:
        first = asyncio.ensure_future(cache.fetch("camp", source.load))
        await asyncio.sleep(0.05)
        cache.clear()  # the edit
        source.value = "v2"
        source.gate.set()
        await first
        return await cache.fetch("camp", source.load)

    started = time.monotonic()
    assert asyncio.run(main()) == "camp:v2"
    assert source.loads == 2
    assert time.monotonic() - started < 5


def test_an_entry_too_long_expired_waits_for_its_refresh() -> None:
    cache: TTLCache[str, str] = TTLCache(0.1, max_stale=0.2)
    source = SlowSource()

    async def main() -> str | None:
        await cache.fetch("camp", source.load)
        source.value = "v2"
        await asyncio.sleep(0.4)  # past TTL + max_stale: nobody asked meanwhile
        return await cache.fetch("camp", source.load)

    assert asyncio.run(main()) == "camp:v2"
