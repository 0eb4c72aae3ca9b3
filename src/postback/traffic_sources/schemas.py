"""Traffic-source payloads, including where and when its outbound postback fires."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from postback.fraud.schemas import FlagList, FlagsOut
from postback.kit.fields import (
    ConversionStatus,
    EventName,
    HttpUrlText,
    Input,
    Name,
    NotNull,
    Output,
    ParamName,
    Patch,
    TemplateName,
    UtcDatetime,
)
from postback.kit.linter import UrlWarning


def _webhook_secret(value: str) -> str:
    # Standard Webhooks: "whsec_" + base64 of 24 to 64 random bytes; the worker decodes it.
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be 'whsec_' followed by base64") from None
    if not value.startswith("whsec_") or not 24 <= len(key) <= 64:
        raise ValueError("must be 'whsec_' followed by the base64 of 24 to 64 bytes")
    return value


WebhookSecret = Annotated[str, StringConstraints(max_length=200), AfterValidator(_webhook_secret)]
EventList = Annotated[list[EventName], Field(max_length=50)]
StatusList = Annotated[list[ConversionStatus], Field(max_length=5)]
Setting = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Settings = Annotated[dict[ParamName, Setting], Field(max_length=20)]
SKIP_HELP = "Conversions with any of these fraud flags fire no postback (any: every flag)"
VARIANT_HELP = "Build postback_url from the template's variant, e.g. 'with_payout'"
SETTINGS_HELP = 'The variant\'s settings, e.g. {"account": "myname"}'
StatusNames = Annotated[
    dict[ConversionStatus, Annotated[str, StringConstraints(min_length=1, max_length=50)]],
    Field(max_length=5),
]


def _approved_only() -> list[ConversionStatus]:
    return ["approved"]


class TrafficSourceCreate(Input):
    name: Name
    template: TemplateName = "custom"
    # The outbound postback template, with the source's macros, e.g. {external_id} and {payout}.
    postback_url: HttpUrlText | None = None
    postback_variant: ParamName | None = Field(default=None, description=VARIANT_HELP)
    postback_settings: Settings = Field(default_factory=dict, description=SETTINGS_HELP)
    external_id_param: ParamName = Field(
        default="external_id", description="Default: the template's click-ID parameter"
    )
    cost_param: ParamName = "cost"
    postback_events: EventList = Field(
        default_factory=list, description="Events that fire the postback; empty means all"
    )
    postback_statuses: StatusList = Field(
        default_factory=_approved_only,
        description="Statuses that fire the postback; empty means all",
    )
    postback_status_names: StatusNames = Field(
        default_factory=dict,
        description='Our status names as the receiver wants them: {"approved": "1"}',
    )
    postback_signing_secret: WebhookSecret | None = Field(
        default=None, description="Sign postbacks the Standard Webhooks way (sent as POST)"
    )
    events_case_insensitive: bool = Field(
        default=False,
        description="postback_events match regardless of case. Default: exact, unless the "
        "template says its system ignores case",
    )
    postback_skip_flags: FlagList = Field(default_factory=list, description=SKIP_HELP)


class TrafficSourceUpdate(Patch):
    name: Annotated[Name | None, NotNull] = None
    template: Annotated[TemplateName | None, NotNull] = None
    postback_url: HttpUrlText | None = None
    postback_variant: ParamName | None = Field(default=None, description=VARIANT_HELP)
    postback_settings: Settings = Field(default_factory=dict, description=SETTINGS_HELP)
    external_id_param: Annotated[ParamName | None, NotNull] = None
    cost_param: Annotated[ParamName | None, NotNull] = None
    postback_events: Annotated[EventList | None, NotNull] = None
    postback_statuses: Annotated[StatusList | None, NotNull] = None
    postback_status_names: Annotated[StatusNames | None, NotNull] = None
    postback_signing_secret: WebhookSecret | None = None
    events_case_insensitive: Annotated[bool | None, NotNull] = None
    postback_skip_flags: Annotated[FlagList | None, NotNull] = None
    archived: Annotated[bool | None, NotNull] = None


class TrafficSourceOut(Output):
    id: int
    name: str
    template: str
    postback_url: str | None
    external_id_param: str
    cost_param: str
    postback_events: list[str]
    postback_statuses: list[str]
    postback_status_names: dict[str, str]
    postback_skip_flags: FlagsOut = Field(description=SKIP_HELP)
    postback_signing_secret: str | None = Field(description="Masked in lists")
    postback_disabled_at: UtcDatetime | None = Field(
        description="Set when the receiver said 410 Gone or failed for days; an edit clears it"
    )
    postback_disabled_reason: str | None
    events_case_insensitive: bool
    archived: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    warnings: list[UrlWarning] = Field(
        default_factory=list, description="What the URL linter found; errors refuse the save"
    )
