"""Value objects of the postback pipeline (plain dataclasses: the hot path avoids pydantic)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from postback.conversions.ledger import CostTerms
from postback.conversions.reasons import Reason

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    id: int
    key: str
    secret: str | None
    signing_secret: str | None
    allowed_ips: tuple[IPNetwork, ...]
    currency: str
    lookback: timedelta
    duplicate_mode: str
    duplicate_modes: dict[str, str]
    aliases: dict[str, str]
    status_map: dict[str, str]
    # Events match exactly unless the network's system treats event names case-insensitively
    # (its template says so): then `Lead` and `lead` are one event for duplicates and modes.
    events_case_insensitive: bool = False

    @classmethod
    def from_row(cls, row: Any) -> NetworkConfig:
        return cls(
            id=row.id,
            key=row.key,
            secret=row.secret or None,
            signing_secret=row.signing_secret or None,
            allowed_ips=tuple(ipaddress.ip_network(c, strict=False) for c in row.allowed_ips or []),
            currency=row.currency,
            lookback=timedelta(days=row.lookback_days),
            duplicate_mode=row.duplicate_mode,
            duplicate_modes=dict(row.duplicate_modes or {}),
            aliases=dict(row.aliases or {}),
            status_map={str(k): str(v) for k, v in (row.status_map or {}).items()},
            events_case_insensitive=bool(row.events_case_insensitive),
        )

    def event_key(self, event: str) -> str:
        """The event as the duplicate rule sees it: as sent, or folded for a network whose
        system does not tell `Lead` from `lead`."""
        return event.lower() if self.events_case_insensitive else event

    def mode_for(self, event: str) -> str:
        mode = self.duplicate_modes.get(event)
        if mode is None and self.events_case_insensitive:
            wanted = event.lower()
            mode = next((m for e, m in self.duplicate_modes.items() if e.lower() == wanted), None)
        return mode or self.duplicate_mode


@dataclass(slots=True)
class ClickRecord:
    """The stored click a postback is attributed to, with its offer's defaults and its
    campaign's cost terms. Read-only by convention: not frozen, because a frozen dataclass
    of this size cost 3.6 us to build against 0.8 us, once per postback."""

    id: str
    created_at: datetime
    campaign_id: int
    offer_id: int | None
    traffic_source_id: int
    external_id: str | None
    tokens: dict[str, Any]
    is_test: bool
    network_id: int | None
    offer_payout_micros: int
    offer_currency: str
    cost_terms: CostTerms
    source_postback_url: str | None
    source_events: tuple[str, ...] = ()
    source_statuses: tuple[str, ...] = ()
    source_status_names: dict[str, str] = field(default_factory=dict)
    source_signs: bool = False
    # The traffic source's event list matches exactly unless its template says otherwise.
    source_events_case_insensitive: bool = False
    ip: str | None = None
    country: str | None = None
    flags: int = 0  # the click's fraud flags
    source_skip_flags: int = 0  # conversions with any of these fire no outbound postback

    def source_wants(self, event: str, status: str, flags: int = 0) -> bool:
        """Does the traffic source's postback fire for this event, status and fraud flags?"""
        if not self.source_postback_url or flags & self.source_skip_flags:
            return False
        if self.source_events and event not in self.source_events:
            if not self.source_events_case_insensitive:
                return False
            if event.lower() not in {e.lower() for e in self.source_events}:
                return False
        return not self.source_statuses or status in self.source_statuses


@dataclass(slots=True)
class PostbackRequest:
    """One inbound request as received, before any rule has looked at it."""

    received_at: datetime
    method: str
    path: str
    query: str
    body: str
    source_ip: str | None
    params: dict[str, str]
    network_key: str | None = None
    path_currency: str | None = None
    signature: str | None = None
    signature_timestamp: str | None = None


@dataclass(slots=True)
class Outcome:
    reason: Reason
    detail: str = ""
    conversion_id: str | None = None
    log_id: str | None = None
    parsed: dict[str, Any] = field(default_factory=dict)
    queued: bool = False  # an outbound postback was queued
