"""Fraud flags in the API: reason codes in, reason codes out (stored as bits)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from postback.fraud import flags


def _flag_name(value: str) -> str:
    name = value.strip().lower()
    if name not in flags.NAMES and name != flags.ANY:
        raise ValueError(f"not a fraud flag; one of {', '.join([*flags.NAMES, flags.ANY])}")
    return name


def _names(value: Any) -> Any:
    return flags.names_of(value) if isinstance(value, int) else value


FlagName = Annotated[str, Field(max_length=32), AfterValidator(_flag_name)]
FlagList = Annotated[list[FlagName], Field(max_length=len(flags.NAMES) + 1)]
FLAGS_HELP = "Fraud flags (reason codes, docs/fraud.md), e.g. bot, datacenter_ip; any: every flag"
# An output field read from a stored bitmask.
FlagsOut = Annotated[
    list[str], BeforeValidator(_names), Field(description="Fraud flags (reason codes)")
]
