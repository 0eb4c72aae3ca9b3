"""Who clicked: the visitor context taken from one request, trimmed to fit its columns.

User agents and IPs repeat heavily in ad traffic, so both lookups are cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from geoip2fast import GeoIP2Fast
from ua_parser import parse as parse_ua

from postback.fraud import datacenter
from postback.kit.asgi import without_nul
from postback.models import FAMILY_MAX, REFERRER_MAX, USER_AGENT_MAX

_geo: GeoIP2Fast | None = None


@dataclass(frozen=True, slots=True)
class Device:
    device: str
    os: str | None
    browser: str | None


@dataclass(slots=True)
class Visitor:
    ip: str | None
    user_agent: str | None
    referrer: str | None
    language: str | None
    country: str | None
    device: Device
    datacenter: bool = False  # the IP is in a cloud provider's range (fraud/datacenter.py)


def visitor_from(
    ip: str | None, user_agent: str | None, referrer: str | None, accept_language: str | None
) -> Visitor:
    # A visitor is never refused for its headers: each is cut to its column (and kept free of
    # NUL, which PostgreSQL refuses), so that no click of a batch can fail its insert.
    ua = without_nul(user_agent[:USER_AGENT_MAX]) if user_agent else None
    country, datacenter = ip_facts(ip) if ip else _NO_IP
    return Visitor(
        ip=ip,
        user_agent=ua,
        referrer=without_nul(referrer[:REFERRER_MAX]) if referrer else None,
        language=primary_language(accept_language),
        country=country,
        device=device_of(ua or ""),
        datacenter=datacenter,
    )


_NO_IP: tuple[str | None, bool] = (None, False)


def primary_language(accept_language: str | None) -> str | None:
    """First tag of Accept-Language, lower-cased: "en-US,en;q=0.9" -> "en-us"."""
    if not accept_language:
        return None
    return _first_language(accept_language)


@lru_cache(maxsize=4096)  # browsers send a handful of distinct headers
def _first_language(accept_language: str) -> str | None:
    first = accept_language.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return without_nul(first[:16]) or None


def warm_up() -> None:
    """Load the GeoIP database and the user-agent rules now, at start-up, not on the first
    click: before the app's gc.freeze(), so that the collector never walks them. The GeoIP
    data is about a million list slots, and every full collection walked them (6 ms, with
    every request in flight waiting)."""
    load_geo()
    parse_ua(_SAMPLE_AGENT)


_SAMPLE_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36"


def load_geo() -> GeoIP2Fast:
    global _geo
    if _geo is None:
        _geo = GeoIP2Fast()
    return _geo


@lru_cache(maxsize=65_536)
def ip_facts(ip: str) -> tuple[str | None, bool]:
    """The IP's country and whether it is a data centre's, in one cache: a second cache of
    tens of thousands of IPs cost a click more than both lookups (memory, not arithmetic)."""
    return _country(ip), datacenter.is_datacenter(ip)


def country_of(ip: str) -> str | None:
    return ip_facts(ip)[0]


def _country(ip: str) -> str | None:
    code = load_geo().lookup(ip).country_code
    # The database answers "--" for private and unknown ranges and two-letter codes otherwise.
    return code if isinstance(code, str) and len(code) == 2 and code.isalpha() else None


_TABLETS = ("iPad", "Tablet", "Kindle", "Nexus 7", "Nexus 9", "SM-T")


@lru_cache(maxsize=16_384)
def device_of(user_agent: str) -> Device:
    if not user_agent:
        return Device("unknown", None, None)
    parsed = parse_ua(user_agent)
    # A bot's family is cut from its user agent, so it can be as long as that.
    os_family = parsed.os.family[:FAMILY_MAX] if parsed.os else None
    browser = parsed.user_agent.family[:FAMILY_MAX] if parsed.user_agent else None
    device_family = parsed.device.family if parsed.device else ""
    return Device(_device_type(user_agent, device_family, os_family), os_family, browser)


def _device_type(user_agent: str, family: str, os_family: str | None) -> str:
    if family == "Spider":
        return "bot"
    if any(marker in user_agent for marker in _TABLETS):
        return "tablet"
    if os_family in ("Android", "iOS") or "Mobile" in user_agent:
        return "mobile"
    if os_family in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora"):
        return "desktop"
    return "other"
