"""Identifiers.

Click IDs are ULIDs: 26 Crockford base32 characters, a 48-bit millisecond timestamp followed by
80 random bits from the OS CSPRNG, so they sort by time and cannot be guessed. Other public ids
(campaign and network keys) are short random URL-safe strings.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time

CLICK_ID_LENGTH = 26
_CLICK_ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of Crockford characters, indexed by the 10 bits it encodes.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_SHIFTS = range(120, -10, -10)
# One urandom call per 409 ids instead of one per id: the syscall was the largest single cost
# of a click. The bytes are the same CSPRNG output, just fetched in bulk, per thread.
_POOL_BYTES = 4090
_local = threading.local()


def _random80() -> int:
    pool: bytes = getattr(_local, "pool", b"")
    pos: int = getattr(_local, "pos", 0)
    if pos + 10 > len(pool):
        pool, pos = os.urandom(_POOL_BYTES), 0
        _local.pool = pool
    _local.pos = pos + 10
    return int.from_bytes(pool[pos : pos + 10], "big")


def new_click_id() -> str:
    """A ULID: 48-bit milliseconds then 80 random bits, 26 Crockford base32 characters."""
    value = (time.time_ns() // 1_000_000) << 80 | _random80()
    # 26 characters carry 130 bits (the top two are zero): 13 lookups of 10 bits each.
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def new_id() -> str:
    """Row id for conversions and log rows: a ULID too, so rows sort by creation time."""
    return new_click_id()


def looks_like_click_id(value: str) -> bool:
    return bool(_CLICK_ID_RE.match(value.upper()))


def new_key(length: int = 10) -> str:
    """A short random key for URLs, lower-case letters and digits only (easy to paste)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
