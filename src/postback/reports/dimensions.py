"""Report dimensions, and which rollup table can answer which of them.

A report reads the narrowest rollup that holds every dimension it groups or filters by; when
none does (a token with a country, say), it folds the raw rows instead: exact, only slower.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from postback.models import (
    ReportClickCampaign,
    ReportClickGeo,
    ReportClickToken,
    ReportConversion,
    ReportConversionCampaign,
    ReportConversionToken,
)
from postback.reports.periods import TIME_UNITS

# Dimension name -> the key it reads (a fact's dims, a rollup column).
COLUMNS = {
    "campaign": "campaign_id",
    "traffic_source": "traffic_source_id",
    "offer": "offer_id",
    "lander": "lander_id",
    "network": "network_id",
    "country": "country",
    "device": "device",
    "os": "os",
    "browser": "browser",
    # What recorded the conversion: postback, manual or pixel. Clicks have none: a report by
    # it shows every click in the row without one (ADR 0018).
    "conversion_source": "source",
}
# Keys only conversions have: a click rollup answers them as "" (no value).
CONVERSION_ONLY = frozenset({"source"})
ID_DIMS = frozenset({"campaign", "traffic_source", "offer", "lander", "network"})
# Other names users reach for.
ALIASES = {"landing_page": "lander", "lp": "lander", "source": "conversion_source"}
# Common tokens may be named bare (group_by=zone); any token works as token.<name>.
TOKEN_ALIASES = frozenset(
    {"zone", "placement", "creative", "site", "keyword"} | {f"sub{i}" for i in range(1, 11)}
)
TOKEN_PREFIX = "token."
# No rollup keeps the lander: a report by lander folds the raw rows (exact, slower).


def canonical(name: str) -> str | None:
    """The dimension's canonical name, or None when there is no such dimension."""
    name = ALIASES.get(name.strip(), name.strip())
    if name in COLUMNS or name in TIME_UNITS:
        return name
    if name in TOKEN_ALIASES:
        return TOKEN_PREFIX + name
    if name.startswith(TOKEN_PREFIX) and 0 < len(name) - len(TOKEN_PREFIX) <= 50:
        return name
    return None


def token_name(dim: str) -> str | None:
    return dim[len(TOKEN_PREFIX) :] if dim.startswith(TOKEN_PREFIX) else None


@dataclass(frozen=True)
class Family:
    table: Table
    columns: frozenset[str]
    token: bool = False

    @property
    def top(self) -> int:
        """The coarsest level the rollup keeps (periods.LEVELS): 8-day spans for tokens."""
        return 3 if self.token else 2

    def answers(self, dims: set[str]) -> bool:
        tokens = {d for d in dims if token_name(d) is not None}
        plain = {COLUMNS[d] for d in dims - tokens}
        if tokens and (not self.token or len(tokens) > 1):
            return False
        # network is read through the offer's row.
        have = self.columns | ({"network_id"} if "offer_id" in self.columns else set())
        have |= CONVERSION_ONLY
        return plain <= have


_BASE = frozenset({"campaign_id", "traffic_source_id"})
_GEO = frozenset({"country", "device", "os", "browser"})

CLICK_FAMILIES = (
    Family(ReportClickCampaign.__table__, _BASE | {"offer_id"}),  # type: ignore[arg-type]
    Family(ReportClickGeo.__table__, _BASE | _GEO),  # type: ignore[arg-type]
    Family(ReportClickToken.__table__, _BASE, token=True),  # type: ignore[arg-type]
)
CONVERSION_FAMILIES = (
    Family(ReportConversionCampaign.__table__, _BASE | {"offer_id"} | CONVERSION_ONLY),  # type: ignore[arg-type]
    Family(ReportConversion.__table__, _BASE | {"offer_id"} | _GEO | CONVERSION_ONLY),  # type: ignore[arg-type]
    Family(ReportConversionToken.__table__, _BASE | CONVERSION_ONLY, token=True),  # type: ignore[arg-type]
)


def choose(families: tuple[Family, ...], dims: set[str]) -> Family | None:
    return next((f for f in families if f.answers(dims)), None)
