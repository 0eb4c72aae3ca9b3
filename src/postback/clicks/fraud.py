"""The fraud signals of a click, worked out from what the redirect already has: the parsed user
agent, the IP's facts (country and data-centre range, cached together: clicks/visitor.py) and a
per-process count of clicks per IP. No query, no I/O: a bot test on the cached parse, a field
read, and two dict operations."""

from __future__ import annotations

from pathlib import Path

from postback.clicks.visitor import Visitor, ip_facts
from postback.config import Settings
from postback.fraud import datacenter, flags
from postback.fraud.burst import BurstCounter
from postback.fraud.flags import Flag

# HTTP tools and headless browsers: ua-parser names their family but does not call them
# spiders. (okhttp and the like are left out: real Android apps send them.)
TOOLS = frozenset(
    {
        "curl",
        "Wget",
        "Python Requests",
        "Python-urllib",
        "Go-http-client",
        "HeadlessChrome",
        "PhantomJS",
        "Apache-HttpClient",
        "libwww-perl",
        "Scrapy",
    }
)

# Plain ints on the click path: an IntFlag operation makes a new enum member each time.
BOT, DATACENTER_IP, IP_BURST = int(Flag.BOT), int(Flag.DATACENTER_IP), int(Flag.IP_BURST)
_burst = BurstCounter(flags.Thresholds().burst_clicks, flags.Thresholds().burst_window)


def configure(settings: Settings) -> None:
    """At start-up, before gc.freeze: the thresholds, the burst window and the IP ranges."""
    global _burst
    flags.configure(settings)
    limits = flags.thresholds()
    _burst = BurstCounter(limits.burst_clicks, limits.burst_window)
    datacenter.reset()
    if limits.datacenter:
        datacenter.load(_extra_ranges(settings.fraud_datacenter_ranges_file))
    else:
        datacenter.disable()
    ip_facts.cache_clear()  # the facts cached so far may hold the other answer


def _extra_ranges(path: str) -> list[str]:
    """CIDRs, one a line (# starts a comment), from the file the operator names, if any."""
    if not path:
        return []
    lines = Path(path).read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def click_flags(visitor: Visitor) -> int:
    device = visitor.device
    found = BOT if device.device == "bot" or device.browser in TOOLS else 0
    if visitor.datacenter:
        found |= DATACENTER_IP
    if visitor.ip and _burst.hit(visitor.ip):
        found |= IP_BURST
    return found
