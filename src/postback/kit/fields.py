"""Field types shared by the admin API's request and response models.

Input types validate and normalise (URLs, currency codes, money); `field_error` raises a 422 in
the same shape as pydantic's own errors for rules that need the database or the settings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from postback.kit.errors import Unprocessable
from postback.kit.money import (
    AMOUNT_MAX_MICROS,
    MICROS,
    InvalidAmount,
    format_micros,
    parse_amount,
    to_micros,
)
from postback.models import URL_MAX

# Integer primary keys: bounded, so a huge number is a 422 and never a database overflow.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# A preset name (section 6 of the spec); presets are data files, so any slug is accepted here.
TemplateName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,49}$")]
# A query-parameter or event name as other systems send it.
ParamName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\[\]-]{1,50}$")]
# An event (goal) name exactly as the receiver stores it: "LeadFormSubmit" is not
# "leadformsubmit" (unless a network or source says its system ignores case).
EventName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")]
ConversionStatus = Literal["approved", "pending", "rejected", "refunded", "chargeback"]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{3}$", to_upper=True)
]


def _http_url(value: str) -> str:
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


HttpUrlText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=URL_MAX),
    AfterValidator(_http_url),
]


def _amount(value: object) -> Decimal:
    # bool is an int to Python; `"payout": true` is a client bug, not 1.
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a decimal number or a string such as '1.25'")
    try:
        amount = parse_amount(repr(value) if isinstance(value, float) else value)
    except InvalidAmount as exc:
        raise ValueError(str(exc)) from None
    if amount < 0:
        raise ValueError("must not be negative")
    if to_micros(amount) != amount * MICROS:
        raise ValueError("must have at most 6 decimal places")
    return amount


Amount = Annotated[
    Decimal,
    PlainValidator(_amount),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}], "examples": ["1.25"]}),
]


def _payout(value: object) -> Decimal:
    amount = _amount(value)
    if to_micros(amount) > AMOUNT_MAX_MICROS:
        raise ValueError(f"must be at most {format_micros(AMOUNT_MAX_MICROS)}")
    return amount


# A payout, commission or CPA amount: at most AMOUNT_MAX_MICROS (kit/money.py).
Payout = Annotated[
    Decimal,
    PlainValidator(_payout),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}], "examples": ["1.25"],
                    "description": f"At most {format_micros(AMOUNT_MAX_MICROS)}"}),
]  # fmt: skip


def _micros_text(value: object) -> object:
    return format_micros(value) if isinstance(value, int) else value


# Output money: read from a `*_micros` column, written as an exact decimal string ("1.5").
MicrosText = Annotated[str, BeforeValidator(_micros_text)]


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("may be left out but not set to null")
    return value


# For PATCH models: a field that may be absent but, when present, must not be null.
NotNull = AfterValidator(_not_null)


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time we store is UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def is_digits(text: str, max_digits: int = 18) -> bool:
    """ASCII digits only, not too many: str.isdigit() also takes "²" and "٣", which int()
    refuses or reads, and int() refuses more than 4,300 digits."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class Filters(BaseModel):
    """Query-parameter models of list endpoints."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL refuses NUL in text, which would surface as a 500 instead of a 422.
        if has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class Input(Filters):
    """Request bodies: unknown fields are refused, so a typo never passes as a no-op."""

    model_config = ConfigDict(extra="forbid")


class Patch(Input):
    """PATCH bodies: only the fields the client sent are changes; absent means unchanged."""

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def field_error(field: str, message: str) -> Unprocessable:
    """A 422 in the shape of the request-validation errors, for rules checked in services."""
    return Unprocessable(f"{field}: {message}", extra=[{"field": field, "message": message}])


@lru_cache(maxsize=1)
def known_currencies() -> frozenset[str]:
    # Loading the rate table takes a few hundred milliseconds: do it once, on first use.
    from currency_converter import CurrencyConverter

    return frozenset(CurrencyConverter().currencies)


def check_currency(code: str, account_currency: str, field: str = "currency") -> str:
    if code != account_currency.upper() and code not in known_currencies():
        raise field_error(field, f"{code} is not a currency the rate table knows")
    return code
