"""Too many clicks from one IP in a short time, counted in this process.

A sliding window approximated by two fixed ones (the count of the window before, weighted by
how much of it the sliding window still covers, plus the current one's): two dict operations
per click and memory for the IPs of two windows, where a list of times per IP would grow with
the clicks. The estimate is exact for steady traffic and never more than one window's count
off.

Per process: with several servers behind a load balancer each counts the clicks it received,
so an IP whose clicks are spread over N servers is flagged only past about N times the limit
(docs/fraud.md). A shared counter would cost a database round trip per click.
"""

from __future__ import annotations

from time import monotonic


class BurstCounter:
    def __init__(self, limit: int, window: float) -> None:
        # A limit of 0 turns the signal off: no count ever gets past the largest int.
        self.limit = limit if limit > 0 else 2**63
        self.window = window
        self._start = 0.0
        self._current: dict[str, int] = {}
        self._previous: dict[str, int] = {}

    def hit(self, ip: str, now: float | None = None) -> bool:
        """Count a click from `ip`; True when it is past the limit in the sliding window."""
        if now is None:
            now = monotonic()
        elapsed = now - self._start
        if elapsed >= self.window:
            elapsed = self._roll(now, elapsed)
        current = self._current
        count = current.get(ip, 0) + 1
        current[ip] = count
        if count > self.limit:
            return True
        before = self._previous.get(ip, 0)
        return before > 0 and count + before * (1 - elapsed / self.window) > self.limit

    def _roll(self, now: float, elapsed: float) -> float:
        """One window on, the current counts become the previous; two or more, both start
        empty. Returns the time since the new window's start."""
        self._previous = self._current if elapsed < 2 * self.window else {}
        self._current = {}
        self._start = now - elapsed % self.window if self._start else now
        return now - self._start
