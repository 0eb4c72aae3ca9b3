"""Lander payloads: a pre-landing page between the click and the offer."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from postback.kit.fields import HttpUrlText, Input, Name, NotNull, Output, Patch, UtcDatetime
from postback.kit.linter import UrlWarning


class LanderCreate(Input):
    name: Name
    url: HttpUrlText = Field(
        description="The lander; macros such as {clickid} are filled. Its call-to-action links "
        "to /lp?clickid={clickid} (or /lp, found by cookie) to go on to the offer"
    )


class LanderUpdate(Patch):
    name: Annotated[Name | None, NotNull] = None
    url: Annotated[HttpUrlText | None, NotNull] = None
    archived: Annotated[bool | None, NotNull] = None


class LanderOut(Output):
    id: int
    name: str
    url: str
    archived: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    warnings: list[UrlWarning] = Field(
        default_factory=list, description="What the URL linter found; errors refuse the save"
    )
