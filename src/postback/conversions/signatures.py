"""HMAC-signed postbacks: the signature check, and the memory that makes a signature single-use.

A signed request is "<timestamp>.<raw query>.<raw body>" under HMAC-SHA256, sent as
`X-Postback-Signature: sha256=<hex>` with `X-Postback-Timestamp: <unix seconds>`. The timestamp
bounds a signature's life to the tolerance window; inside it, the table `seen_signatures`
refuses a second use. It lives in the database, not in a process, so a replay sent to another
`postback serve` process or host is refused too (ADR 0012).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from postback.conversions import repository
from postback.conversions.parsing import Refused
from postback.conversions.reasons import Reason
from postback.conversions.records import PostbackRequest

# Forgetting expired signatures once a minute per process keeps the table at a few minutes
# of signed postbacks; a list, so the tests can make a purge due.
PURGE_EVERY = 60.0
_purged_at = [float("-inf")]

Seen = tuple[int, str, datetime]  # (network id, signature, when it expires)


def verify(request: PostbackRequest, secret: str, tolerance: timedelta) -> tuple[str, datetime]:
    """The request's signature, checked, and when it expires; refused as bad_signature."""
    sent = (request.signature or "").removeprefix("sha256=")
    try:
        timestamp = int(request.signature_timestamp or "")
    except ValueError:
        raise Refused(Reason.BAD_SIGNATURE, "missing or malformed X-Postback-Timestamp") from None
    age = abs(request.received_at.timestamp() - timestamp)
    if age > tolerance.total_seconds():
        raise Refused(Reason.BAD_SIGNATURE, "the signature's timestamp is outside the window")
    payload = f"{timestamp}.{request.query}.{request.body}".encode()
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Refused(Reason.BAD_SIGNATURE, "the signature does not match")
    return expected, datetime.fromtimestamp(timestamp, UTC) + tolerance


def claim(conn: Connection, seen: Seen, tolerance: timedelta) -> bool:
    """Remember a signature in the caller's transaction; False when it was used before."""
    now = time.monotonic()
    if now - _purged_at[0] >= PURGE_EVERY:
        _purged_at[0] = now
        # A tolerance of grace: a replay read just before its expiry must still find its row.
        repository.purge_signatures(conn, datetime.now(UTC) - tolerance)
    return repository.claim_signature(conn, *seen)
