"""From a raw request to canonical postback fields: aliases, placeholders, value checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from postback.conversions.reasons import Reason
from postback.kit.ids import canonical_click_id
from postback.kit.money import InvalidAmount, parse_amount
from postback.models import TOKEN_VALUE_MAX

# PRODUCT.md 3.2: the canonical names and their default aliases. Aliases whose meaning differs
# between systems (`tid`, `transaction_id`) are not here: networks add them in their own map.
DEFAULT_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        [
            "clickid",
            "cid",
            "click_id",
            "clickId",
            "subid",
            "sub_id",
            "subid_short",
            "cnv_id",
            "externalid",
        ],
        "clickid",
    ),
    **dict.fromkeys(["payout", "revenue", "atpay"], "payout"),
    # The sale value (the beginner's guide's `amount`, ClickMeter's `val`): its own field,
    # never a payout alias, so a postback carrying both keeps both numbers.
    **dict.fromkeys(["amount", "val", "sum", "sale_amount", "order_value"], "amount"),
    **dict.fromkeys(["currency", "cnv_currency", "cur"], "currency"),
    **dict.fromkeys(["event", "et", "goal", "type"], "event"),
    **dict.fromkeys(["status", "cnv_status"], "status"),
    **dict.fromkeys(["txid", "order_id", "action_id"], "txid"),
    **dict.fromkeys(["com", "commission"], "com"),
    "comperc": "comperc",
    **dict.fromkeys(["token", "key", "security_token"], "token"),
}
CANONICAL = frozenset(DEFAULT_ALIASES.values())
# Where a click ID is found by default, the exact name first (see canonical_fields).
CLICKID_NAMES = (
    "clickid",
    *(n for n, c in DEFAULT_ALIASES.items() if c == "clickid" and n != "clickid"),
)

STATUSES = ("approved", "pending", "rejected", "refunded", "chargeback")
# Words networks send for our statuses; a network's own status_map is consulted first.
DEFAULT_STATUS_WORDS: dict[str, str] = {
    **{s: s for s in STATUSES},
    **dict.fromkeys(["approve", "confirmed", "sale", "success", "paid", "1"], "approved"),
    **dict.fromkeys(["hold", "lead", "pending_review", "2", "5"], "pending"),
    **dict.fromkeys(
        [
            "reject",
            "declined",
            "decline",
            "denied",
            "cancelled",
            "canceled",
            "trash",
            "invalid",
            "3",
        ],
        "rejected",
    ),
    **dict.fromkeys(["refund", "reversed"], "refunded"),
    "charged_back": "chargeback",
}

# An unreplaced macro of any common syntax: {x}, {{x}}, ${X}, ##X##, #x#, [X], %X%.
_PLACEHOLDER = re.compile(
    r"^(\{\{?[^{}]+\}?\}|\$\{[^}]+\}|##[^#]+##|#[A-Za-z_][\w-]*#|\[[A-Za-z_][\w-]*\]|%[A-Za-z_]\w*%)$"
)
_PLACEHOLDER_STARTS = frozenset("{$#[%")
# Event names are kept exactly as sent (Knorex: the goal's name must match exactly).
_EVENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
CHECKED_FIELDS: tuple[str, ...] = ("clickid", "payout", "amount", "currency", "event")
CHECKED_FIELDS += ("status", "txid", "com", "comperc")


class Refused(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Fields:
    """Canonical fields of one postback (raw strings) plus everything else, kept as params."""

    values: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value else None


def canonical_fields(raw: Mapping[str, str], network_aliases: Mapping[str, str]) -> Fields:
    """Map raw parameter names to canonical ones. The network's aliases win over the defaults;
    an exact canonical name wins over an alias of it, and the parameter that loses (`cid`
    beside `clickid`) is kept in params: no parameter a sender names is ever dropped."""
    fields = Fields()
    sent_as: dict[str, str] = {}
    for name, value in raw.items():
        canonical = network_aliases.get(name) or DEFAULT_ALIASES.get(name)
        if canonical is None or canonical not in CANONICAL:
            fields.params[name] = value[:TOKEN_VALUE_MAX]
            continue
        if canonical in fields.values:
            loser = name if name != canonical else sent_as[canonical]
            if canonical != "token":  # a secret is never kept with the conversion
                fields.params[loser] = raw[loser][:TOKEN_VALUE_MAX]
            if name != canonical:
                continue
        fields.values[canonical] = value.strip()
        sent_as[canonical] = name
    return fields


def reject_placeholders(fields: Fields) -> None:
    for name in CHECKED_FIELDS:
        value = fields.values.get(name)
        # Every placeholder syntax starts with one of these: most values skip the regex.
        if value and value[0] in _PLACEHOLDER_STARTS and _PLACEHOLDER.match(value):
            raise Refused(
                Reason.PLACEHOLDER_VALUE,
                f"{name} is {value!r}, an unreplaced macro: the sender did not fill it in",
            )


def require_clickid(fields: Fields) -> str:
    clickid = fields.get("clickid")
    if clickid is None:
        raise Refused(Reason.MISSING_CLICKID, "no click ID (clickid, cid, subid, ...) was sent")
    return canonical_click_id(clickid)


def parse_payout(fields: Fields, name: str = "payout") -> Decimal | None:
    raw = fields.get(name)
    if raw is None:
        return None
    try:
        amount = parse_amount(raw)
    except InvalidAmount as exc:
        raise Refused(Reason.INVALID_PAYOUT, f"{name} {raw!r} is not a valid amount") from exc
    if amount < 0:
        raise Refused(Reason.INVALID_PAYOUT, f"{name} {raw!r} is negative")
    return amount


def parse_currency(fields: Fields, known: frozenset[str]) -> str | None:
    raw = fields.get("currency")
    if raw is None:
        return None
    code = raw.upper()
    if not _CURRENCY.match(code) or code not in known:
        raise Refused(Reason.INVALID_CURRENCY, f"currency {raw!r} is not one we have rates for")
    return code


def parse_status(fields: Fields, status_map: Mapping[str, str]) -> str:
    raw = fields.get("status")
    if raw is None:
        return "approved"
    status = status_map.get(raw) or DEFAULT_STATUS_WORDS.get(raw.lower())
    if status not in STATUSES:
        raise Refused(Reason.INVALID_STATUS, f"status {raw!r} is not one of {', '.join(STATUSES)}")
    return status


def parse_event(fields: Fields) -> str:
    raw = fields.get("event")
    if raw is None:
        return "conversion"
    if not _EVENT.match(raw):
        raise Refused(Reason.INVALID_EVENT, f"event {raw!r} is not a valid event name")
    return raw


def parse_txid(fields: Fields) -> str | None:
    raw = fields.get("txid")
    return raw[:TOKEN_VALUE_MAX] if raw else None
