"""A small time-bounded cache for configuration read on the hot paths.

Campaigns and networks change rarely and are read on every click and postback. Each process
keeps them for a few seconds, so an edit made through any process is live everywhere within
that time, with no cross-process invalidation to go wrong. Misses (unknown keys) are cached too,
so a scan of random campaign keys cannot turn into a database scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_MAX_ENTRIES = 50_000


class TTLCache(Generic[K, V]):
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[K, tuple[float, V | None]] = {}

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

    def clear(self) -> None:
        self._entries.clear()
