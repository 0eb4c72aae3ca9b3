"""Traffic-source payloads."""

from __future__ import annotations

from typing import Annotated

from postback.kit.fields import (
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


class TrafficSourceCreate(Input):
    name: Name
    template: TemplateName = "custom"
    # The outbound postback template, with the source's macros, e.g. {external_id} and {payout}.
    postback_url: HttpUrlText | None = None
    external_id_param: ParamName = "external_id"
    cost_param: ParamName = "cost"


class TrafficSourceUpdate(Patch):
    name: Annotated[Name | None, NotNull] = None
    template: Annotated[TemplateName | None, NotNull] = None
    postback_url: HttpUrlText | None = None
    external_id_param: Annotated[ParamName | None, NotNull] = None
    cost_param: Annotated[ParamName | None, NotNull] = None
    archived: Annotated[bool | None, NotNull] = None


class TrafficSourceOut(Output):
    id: int
    name: str
    template: str
    postback_url: str | None
    external_id_param: str
    cost_param: str
    archived: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
