"""Affiliate-network payloads: who sends us inbound postbacks, and how we check them."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from postback.conversions.parsing import CANONICAL
from postback.kit.fields import (
    ConversionStatus,
    Currency,
    EventName,
    Input,
    Name,
    NotNull,
    Output,
    ParamName,
    Patch,
    TemplateName,
    UtcDatetime,
)

DuplicateMode = Literal["ignore", "new_per_txid", "update", "accumulate"]

Secret = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[!-~]+$")]
LookbackDays = Annotated[int, Field(ge=1, le=365)]
# Their status words are free text ("1", "hold", "Approved"); ours are the fixed list.
StatusWord = Annotated[str, StringConstraints(min_length=1, max_length=50)]


def _ip_or_cidr(value: str) -> str:
    value = value.strip()
    try:
        if "/" in value:
            # strict: "10.0.0.1/8" is refused rather than silently widened to 10.0.0.0/8.
            return str(ipaddress.ip_network(value))
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address or CIDR range ({exc})") from None


def _canonical(value: str) -> str:
    if value not in CANONICAL:
        raise ValueError(f"must be one of {', '.join(sorted(CANONICAL))}")
    return value


IpOrCidr = Annotated[str, AfterValidator(_ip_or_cidr)]
# An alias maps their parameter name to one of the receiver's canonical fields.
CanonicalField = Annotated[str, AfterValidator(_canonical)]
AllowedIps = Annotated[list[IpOrCidr], Field(max_length=100)]
DuplicateModes = Annotated[dict[EventName, DuplicateMode], Field(max_length=50)]
Aliases = Annotated[dict[ParamName, CanonicalField], Field(max_length=100)]
StatusMap = Annotated[dict[StatusWord, ConversionStatus], Field(max_length=100)]


class NetworkCreate(Input):
    name: Name
    template: TemplateName = "custom"
    secret: Secret | None = Field(
        default=None, description="Default: one is generated (and is in `postback_url`)"
    )
    no_secret: bool = Field(
        default=False,
        description="Opt out of the generated secret: postbacks need no token. Not "
        "recommended: a visitor sees their click ID and could report their own conversion",
    )
    signing_secret: Secret | None = Field(
        default=None, description="When set, postbacks must carry an HMAC-SHA256 signature"
    )
    allowed_ips: AllowedIps = Field(default_factory=list)
    currency: Currency | None = Field(default=None, description="Default: the account currency")
    lookback_days: LookbackDays | None = Field(default=None, description="Default: 30 days")
    duplicate_mode: DuplicateMode = "ignore"
    duplicate_modes: DuplicateModes = Field(default_factory=dict)
    aliases: Aliases = Field(default_factory=dict)
    status_map: StatusMap = Field(default_factory=dict)
    events_case_insensitive: bool = Field(
        default=False,
        description="Match event names regardless of case (`Lead` is `lead`). Default: exact, "
        "unless the template says its system ignores case",
    )

    @model_validator(mode="after")
    def _one_secret_choice(self) -> NetworkCreate:
        if self.no_secret and self.secret is not None:
            raise ValueError("give a secret or no_secret, not both")
        return self


class NetworkUpdate(Patch):
    name: Annotated[Name | None, NotNull] = None
    template: Annotated[TemplateName | None, NotNull] = None
    secret: Secret | None = None
    signing_secret: Secret | None = None
    allowed_ips: Annotated[AllowedIps | None, NotNull] = None
    currency: Annotated[Currency | None, NotNull] = None
    lookback_days: Annotated[LookbackDays | None, NotNull] = None
    duplicate_mode: Annotated[DuplicateMode | None, NotNull] = None
    duplicate_modes: Annotated[DuplicateModes | None, NotNull] = None
    aliases: Annotated[Aliases | None, NotNull] = None
    status_map: Annotated[StatusMap | None, NotNull] = None
    events_case_insensitive: Annotated[bool | None, NotNull] = None
    archived: Annotated[bool | None, NotNull] = None


class NetworkOut(Output):
    id: int
    key: str
    name: str
    template: str
    secret: str | None = Field(description="In full on create and on GET by id; masked in lists")
    signing_secret: str | None = Field(description="Shown like `secret`")
    postback_url: str = Field(
        default="", description="The URL to paste into the network; {x} are its placeholders"
    )
    allowed_ips: list[str]
    currency: str
    lookback_days: int
    duplicate_mode: str
    duplicate_modes: dict[str, str]
    aliases: dict[str, str]
    status_map: dict[str, str]
    events_case_insensitive: bool
    archived: bool
    insecure: bool = Field(
        default=False,
        description="True when neither a secret token nor a signature authenticates its postbacks",
    )
    warnings: list[str] = Field(default_factory=list, description="What to fix, in plain words")
    created_at: UtcDatetime
    updated_at: UtcDatetime
