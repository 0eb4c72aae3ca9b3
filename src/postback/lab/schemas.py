"""Postback-lab payloads: a dry-run replay's verdicts and a click's whole story."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from postback.conversions.schemas import ConversionDetail
from postback.deliveries.schemas import DeliveryDetail
from postback.kit.fields import Output, UtcDatetime
from postback.postback_log.schemas import LogEntryOut


class StepVerdict(Output):
    step: str = Field(description="A pipeline step, or authenticate.token / .signature")
    verdict: Literal["pass", "refused", "skipped"]
    reason: str | None = Field(default=None, description="The reason code when refused")
    detail: str | None = None


class ReplayOut(Output):
    log_id: str
    dry_run: bool = True
    steps: list[StepVerdict]
    outcome: str = Field(description="accepted, duplicate, updated or the refusal's reason code")
    detail: str
    would_create_conversion: bool


class Named(Output):
    id: int
    name: str


class ExplainedClick(Output):
    clickid: str
    created_at: UtcDatetime
    campaign: Named | None
    offer: Named | None
    traffic_source_id: int
    external_id: str | None
    tokens: dict[str, Any]
    test: bool


class ClickExplained(Output):
    click: ExplainedClick
    conversions: list[ConversionDetail] = Field(description="Each with its status history")
    postbacks: list[LogEntryOut] = Field(description="Inbound requests that named this click")
    deliveries: list[DeliveryDetail] = Field(description="Outbound postbacks with attempts")
