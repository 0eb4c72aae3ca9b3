"""Delivery rules: what an attempt's result means, when to try again, how to sign.

Success is a 2xx only (a redirect is a failure: we never follow one). 410 Gone disables the
destination. Anything else is retried on the schedule, honouring Retry-After up to a cap,
with +/-20% jitter so that a recovering receiver is not hit by every retry at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str  # the delivery's next state: delivered, pending, dead or disabled
    outcome: str  # what the attempt was: delivered, failed, gone, blocked
    next_attempt_at: datetime | None


def judge(
    *,
    status_code: int | None,
    permanent_error: bool,
    headers: Mapping[str, str] | None,
    attempts_done: int,
    now: datetime,
    schedule: tuple[timedelta, ...],
    retry_after_cap: timedelta,
    rng: random.Random | None = None,
) -> Verdict:
    if status_code is not None and 200 <= status_code < 300:
        return Verdict("delivered", "delivered", None)
    if status_code == 410:
        return Verdict("disabled", "gone", None)
    if permanent_error:
        return Verdict("dead", "blocked", None)
    if attempts_done > len(schedule):
        return Verdict("dead", "failed", None)
    delay = jittered(schedule[attempts_done - 1], rng)
    retry_after = parse_retry_after(headers, now, retry_after_cap) if headers is not None else None
    if retry_after is not None:
        delay = max(delay, retry_after)
    return Verdict("pending", "failed", now + delay)


def jittered(delay: timedelta, rng: random.Random | None = None) -> timedelta:
    return delay * (rng or random).uniform(0.8, 1.2)


def parse_retry_after(
    headers: Mapping[str, str], now: datetime, cap: timedelta
) -> timedelta | None:
    """Retry-After as seconds or as an HTTP date, at most `cap`; None when absent or
    unreadable. A receiver may send any number: it is clamped before it becomes a timedelta
    (which overflows past about 10**14 seconds) or a date."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():  # str.isdigit() also takes "²", which int() refuses
        # (Over 12 digits is over 30,000 years: past any cap, and int() refuses 4,300+ digits.)
        seconds = int(raw) if len(raw) <= 12 else cap.total_seconds()
        return min(timedelta(seconds=seconds), cap)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(timedelta(0), when - now), cap)


def standard_webhooks_headers(
    secret: str, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Headers of the Standard Webhooks spec: HMAC-SHA256 over "<id>.<timestamp>.<body>"
    with the base64 key that follows the "whsec_" prefix."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{digest}",
    }
