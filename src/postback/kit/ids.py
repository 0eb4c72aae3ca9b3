"""Identifiers.

Click IDs are ULIDs: 26 Crockford base32 characters, a 48-bit millisecond timestamp followed by
80 random bits from the OS CSPRNG, so they sort by time and cannot be guessed. Other public ids
(campaign and network keys) are short random URL-safe strings.
"""

from __future__ import annotations

import re
import secrets

from ulid import ULID

CLICK_ID_LENGTH = 26
_CLICK_ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def new_click_id() -> str:
    return str(ULID())


def new_id() -> str:
    """Row id for conversions and log rows: a ULID too, so rows sort by creation time."""
    return str(ULID())


def looks_like_click_id(value: str) -> bool:
    return bool(_CLICK_ID_RE.match(value.upper()))


def new_key(length: int = 10) -> str:
    """A short random key for URLs, lower-case letters and digits only (easy to paste)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
