"""Fraud signals: reason codes kept as bits of one small integer on each click and conversion.

A flag marks traffic for a media buyer to look at; nothing is refused or dropped for it. The
bits are stored, so their values never change; a new signal takes the next free bit. Reports,
campaign rules and the outbound-postback setting all speak the names below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntFlag
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postback.config import Settings


class Flag(IntFlag):
    BOT = 1  # a known bot, crawler or HTTP tool by its user agent
    DATACENTER_IP = 2  # the IP is in a cloud provider's published ranges
    IP_BURST = 4  # too many clicks from this IP in a short time (this process)
    FAST_CONVERSION = 8  # converted sooner after the click than a person can (CTIT)
    GEO_MISMATCH = 16  # the conversion's country is not the click's
    IP_MISMATCH = 32  # the conversion's user IP is not the click's
    MULTI_IP_CLICK = 64  # the click ID came back from two or more user IPs
    PAYOUT_OUTLIER = 128  # the payout is far above the offer's


# Plain words for the dashboard.
WORDS = {
    Flag.BOT: "Known bot, crawler or HTTP tool (user agent)",
    Flag.DATACENTER_IP: "IP address in a data centre (cloud provider range)",
    Flag.IP_BURST: "Too many clicks from this IP in a short time",
    Flag.FAST_CONVERSION: "Converted too soon after the click",
    Flag.GEO_MISMATCH: "Conversion country differs from the click's",
    Flag.IP_MISMATCH: "Conversion IP differs from the click's",
    Flag.MULTI_IP_CLICK: "Click ID reported from more than one IP",
    Flag.PAYOUT_OUTLIER: "Payout far above the offer's",
}
CLICK_FLAGS = Flag.BOT | Flag.DATACENTER_IP | Flag.IP_BURST
NAMES = {flag.name.lower(): flag for flag in Flag if flag.name}
# Filter and rule words besides the names: no flag at all, or any flag.
NONE = "none"
ANY = "any"
ALL_BITS = sum(NAMES.values())


def names_of(flags: int) -> list[str]:
    """The reason codes of a bitmask, in bit order."""
    return list(_names(flags)) if flags else []


@lru_cache(maxsize=512)  # a handful of combinations occur
def _names(flags: int) -> tuple[str, ...]:
    return tuple(name for name, flag in NAMES.items() if flags & flag)


def label(flags: int) -> str:
    """A report's value of the `fraud` dimension: the codes joined by commas, or "none"."""
    return ",".join(_names(flags)) if flags else NONE


def explained(flags: int) -> list[tuple[str, str]]:
    """(reason code, plain words) of each flag set, for the dashboard."""
    return [(str(flag.name).lower(), WORDS[flag]) for flag in Flag if flags & flag]


def unknown(names: Iterable[str], *, extra: tuple[str, ...] = (NONE, ANY)) -> list[str]:
    return [n for n in names if n.strip().lower() not in NAMES and n.strip().lower() not in extra]


def mask_of(names: Iterable[str]) -> int:
    """The bits of reason codes (and `any`: every bit); unknown names are checked by callers."""
    mask = 0
    for name in names:
        key = name.strip().lower()
        mask |= ALL_BITS if key == ANY else int(NAMES.get(key, 0))
    return mask


def matches(flags: int, wanted: Iterable[str]) -> bool:
    """A filter or rule condition: any of the named flags (`none`: no flag at all)."""
    wanted = tuple(wanted)
    if NONE in wanted and not flags:
        return True
    return bool(flags & mask_of(w for w in wanted if w != NONE))


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The settings the signals use (config.py documents each); 0 turns a signal off."""

    burst_clicks: int = 20
    burst_window: float = 60.0
    fast_conversion: float = 10.0
    payout_outlier_factor: int = 10
    datacenter: bool = True


_current = Thresholds()


def configure(settings: Settings) -> None:
    """Take the thresholds from the settings, once at start-up (the click path reads them)."""
    global _current
    _current = Thresholds(
        burst_clicks=settings.fraud_burst_clicks,
        burst_window=settings.fraud_burst_window.total_seconds(),
        fast_conversion=settings.fraud_fast_conversion.total_seconds(),
        payout_outlier_factor=settings.fraud_payout_outlier_factor,
        datacenter=settings.fraud_datacenter_ips,
    )


def thresholds() -> Thresholds:
    return _current
