"""Every outcome of an inbound postback: one StrEnum shared by responses, the log and the API."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # Accepted outcomes (HTTP 200).
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UPDATED = "updated"
    # Refusals.
    MISSING_CLICKID = "missing_clickid"
    INVALID_PAYOUT = "invalid_payout"
    INVALID_CURRENCY = "invalid_currency"
    NO_RATE = "no_rate"
    INVALID_STATUS = "invalid_status"
    INVALID_EVENT = "invalid_event"
    INVALID_BODY = "invalid_body"
    PLACEHOLDER_VALUE = "placeholder_value"
    BAD_TOKEN = "bad_token"
    IP_NOT_ALLOWED = "ip_not_allowed"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED_SIGNATURE = "replayed_signature"
    WRONG_NETWORK = "wrong_network"
    NO_NETWORK = "no_network"
    UNKNOWN_NETWORK = "unknown_network"
    UNKNOWN_CLICK = "unknown_click"
    PIXEL_DISABLED = "pixel_disabled"
    OUTSIDE_WINDOW = "outside_window"
    STATUS_LOCKED = "status_locked"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BODY_TOO_LARGE = "body_too_large"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"

    @property
    def http_status(self) -> int:
        return _STATUS.get(self, 200)

    @property
    def outcome(self) -> str:
        """The log's coarse outcome: accepted, duplicate, updated, refused or failed."""
        return _OUTCOME[self]  # a table: Enum's `value` property is Python code, per postback


_STATUS = {
    Reason.MISSING_CLICKID: 400,
    Reason.INVALID_PAYOUT: 400,
    Reason.INVALID_CURRENCY: 400,
    Reason.NO_RATE: 400,
    Reason.INVALID_STATUS: 400,
    Reason.INVALID_EVENT: 400,
    Reason.INVALID_BODY: 400,
    Reason.PLACEHOLDER_VALUE: 400,
    Reason.BAD_TOKEN: 403,
    Reason.IP_NOT_ALLOWED: 403,
    Reason.BAD_SIGNATURE: 403,
    Reason.REPLAYED_SIGNATURE: 403,
    Reason.WRONG_NETWORK: 403,
    Reason.NO_NETWORK: 403,
    Reason.PIXEL_DISABLED: 403,
    Reason.UNKNOWN_NETWORK: 404,
    Reason.UNKNOWN_CLICK: 404,
    Reason.METHOD_NOT_ALLOWED: 405,
    Reason.OUTSIDE_WINDOW: 410,
    Reason.STATUS_LOCKED: 409,
    Reason.BODY_TOO_LARGE: 413,
    Reason.RATE_LIMITED: 429,
    Reason.SERVER_ERROR: 503,
}


def _outcome_of(reason: Reason) -> str:
    if reason in (Reason.ACCEPTED, Reason.DUPLICATE, Reason.UPDATED):
        return str(reason)
    return "failed" if reason is Reason.SERVER_ERROR else "refused"


_OUTCOME = {reason: _outcome_of(reason) for reason in Reason}
