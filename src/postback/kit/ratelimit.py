"""Per-key token buckets, in process (each server process limits on its own)."""

from __future__ import annotations

import time

_MAX_KEYS = 100_000


class RateLimiter:
    def __init__(self, per_second: float, burst: int) -> None:
        self.rate = per_second
        self.burst = float(max(burst, 1))
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, key: str) -> bool:
        if not self.enabled:
            return True
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self._buckets) >= _MAX_KEYS:
            self._buckets.clear()
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True

    def blocked(self, key: str) -> bool:
        """Whether `allow(key)` would refuse now, without taking a token (for limits that
        count only failures: check first, spend a token when the attempt fails)."""
        if not self.enabled:
            return False
        found = self._buckets.get(key)
        if found is None:
            return False
        tokens, last = found
        return tokens + (time.monotonic() - last) * self.rate < 1

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)

    def clear(self) -> None:
        self._buckets.clear()
