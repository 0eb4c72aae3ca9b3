"""Identifiers.

Click IDs are ULIDs: 26 Crockford base32 characters, a 48-bit millisecond timestamp followed by
80 random bits from the OS CSPRNG, so they sort by time and cannot be guessed. Other public ids
(campaign and network keys) are short random URL-safe strings.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import threading
import time
from datetime import datetime

CLICK_ID_LENGTH = 26
_CLICK_ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of Crockford characters, indexed by the 10 bits it encodes.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
# A random byte's low 5 bits as a Crockford character: 16 bytes make the 80 random bits.
_FIVE_BITS = bytes(_CROCKFORD.encode()[b & 31] for b in range(256))
_RANDOM_CHARS = 16
# One urandom call per 256 ids instead of one per id: the syscall was the largest single cost
# of a click. The bytes are the same CSPRNG output, fetched in bulk and kept per thread.
_POOL_BYTES = 4096
_local = threading.local()
# The 10 time characters of the last millisecond seen: ids of one millisecond share them.
_time_chars: tuple[int, str] = (-1, "")


def _random_part() -> str:
    try:
        parts: list[str] = _local.parts
    except AttributeError:
        parts = _local.parts = []
    if not parts:
        chars = os.urandom(_POOL_BYTES).translate(_FIVE_BITS).decode()
        parts.extend([chars[i : i + _RANDOM_CHARS] for i in range(0, _POOL_BYTES, _RANDOM_CHARS)])
    return parts.pop()


def _forget_pool() -> None:
    # A forked child must not hand out the ids its parent's pool still holds.
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_pool)


def new_click_id() -> str:
    """A ULID: 48-bit milliseconds then 80 random bits, 26 Crockford base32 characters."""
    global _time_chars
    ms = time.time_ns() // 1_000_000
    last, prefix = _time_chars
    if ms != last:
        prefix = _time_chars_of(ms)
        _time_chars = (ms, prefix)
    return prefix + _random_part()


def _time_chars_of(ms: int) -> str:
    # 10 characters carry 50 bits (the top two are zero): 5 lookups of 10 bits each.
    return "".join([_PAIRS[(ms >> shift) & 1023] for shift in (40, 30, 20, 10, 0)])


def ulid_floor(moment: datetime) -> str:
    """The smallest ULID of `moment`'s millisecond: ids made at or after `moment` sort at or
    above it, so a time range becomes a primary-key range."""
    ms = max(0, math.floor(moment.timestamp() * 1000))
    return _time_chars_of(ms) + "0" * _RANDOM_CHARS


def new_id() -> str:
    """Row id for conversions and log rows: a ULID too, so rows sort by creation time."""
    return new_click_id()


def looks_like_click_id(value: str) -> bool:
    return bool(_CLICK_ID_RE.match(value.upper()))


def canonical_click_id(value: str) -> str:
    """A click ID as stored: ULIDs are case-insensitive (Crockford base32) and ours are
    written in upper case, so "01hx..." is the click "01HX...". Anything else is returned
    as it is (it finds no click)."""
    return value.upper() if looks_like_click_id(value) else value


def new_key(length: int = 10) -> str:
    """A short random key for URLs, lower-case letters and digits only (easy to paste)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
