"""A small time-bounded cache for configuration read on the hot paths.

Campaigns and networks change rarely and are read on every click and postback. Each process
keeps them for a few seconds, so an edit made through any process is live everywhere within
that time, with no cross-process invalidation to go wrong. Misses (unknown keys) are cached too,
so a scan of random campaign keys cannot turn into a database scan.

On the event loop (`fetch`), an entry that has just expired is still served while one load
refreshes it in the background, and a key nobody has loaded yet is loaded once however many
requests ask for it at the same moment. Before that, every click in flight when a campaign's
entry expired loaded it again, all at once, every few seconds: the slowest clicks of a busy
campaign were those. Stale is served for at most `max_stale` seconds past the TTL; an entry
older than that waits for the refresh, so a campaign paused through another process stops
redirecting within TTL + max_stale, however long nobody clicked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_MAX_ENTRIES = 50_000
# How long past its TTL an entry may still be served while one refresh runs.
MAX_STALE_SECONDS = 2.0


class TTLCache(Generic[K, V]):
    def __init__(self, ttl_seconds: float, max_stale: float = MAX_STALE_SECONDS) -> None:
        self.ttl = ttl_seconds
        self.max_stale = max_stale
        self._entries: dict[K, tuple[float, V | None]] = {}
        self._loading: dict[K, asyncio.Future[Any]] = {}
        self._generation = 0  # moved by clear(): a load begun before it is not kept

    def get(self, key: K) -> tuple[bool, V | None]:
        """(found, value): found is False when the key must be loaded again."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: K, value: V | None) -> None:
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def get_or_load(self, key: K, load: Callable[[K], V | None]) -> V | None:
        found, value = self.get(key)
        if not found:
            value = load(key)
            self.put(key, value)
        return value

    async def fetch(self, key: K, load: Callable[[K], V | None]) -> V | None:
        """The value for `key`, from the event loop; `load` runs on a worker thread."""
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] >= now:
            return entry[1]
        pending = self._loading.get(key) or self._start_load(key, load)
        if entry is not None and now - entry[0] <= self.max_stale:
            return entry[1]  # a refresh runs in the background; serve this one meanwhile
        value: V | None = await asyncio.shield(pending)
        return value

    def _start_load(self, key: K, load: Callable[[K], V | None]) -> asyncio.Future[Any]:
        generation = self._generation
        future = asyncio.get_running_loop().run_in_executor(None, load, key)
        self._loading[key] = future

        def done(f: asyncio.Future[Any]) -> None:
            if self._loading.get(key) is f:
                del self._loading[key]
            if not f.cancelled() and f.exception() is None and generation == self._generation:
                self.put(key, f.result())

        future.add_done_callback(done)
        return future

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()
        self._generation += 1
