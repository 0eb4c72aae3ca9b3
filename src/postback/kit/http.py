"""The one outbound HTTP wrapper: mandatory timeout, our User-Agent, no redirects, SSRF guard.

The guard resolves the host itself, refuses any address that is loopback, private, link-local,
multicast, reserved or a cloud metadata endpoint (unless an operator allowlist says otherwise),
and then connects to the very address it checked: the request goes to the IP with the original
Host header and TLS server name, so a DNS answer that changes between check and connect
(DNS rebinding) cannot slip through.

    OutboundError
     ├── BlockedDestination   permanent: the address is not allowed
     ├── InvalidDestination   permanent: not an http(s) URL we can send
     └── TransportFailure     retryable: DNS, connect, timeout, reset
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

import aiohttp
from yarl import URL

from postback import __version__

USER_AGENT = f"Postback/{__version__} (+https://github.com/postback/postback)"
SNIPPET_MAX = 512
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundError(Exception):
    permanent = False


class BlockedDestination(OutboundError):
    permanent = True


class InvalidDestination(OutboundError):
    permanent = True


class TransportFailure(OutboundError):
    pass


@dataclass(frozen=True, slots=True)
class Reply:
    status_code: int
    headers: Mapping[str, str]
    snippet: str
    latency_ms: int


def parse_allowlist(text: str) -> tuple[IPNetwork, ...]:
    return tuple(
        ipaddress.ip_network(c.strip(), strict=False) for c in text.split(",") if c.strip()
    )


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the low 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use, never global
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_TEREDO = ipaddress.ip_network("2001::/32")
# inet_aton's spellings: 2130706433, 0177.0.0.1, 0x7f.1, 127.1 all mean 127.0.0.1.
_NUMERIC_IPV4 = re.compile(r"(?i)^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


def is_public(address: IPAddress) -> bool:
    """A global unicast address, however it is spelled: an IPv6 address that carries an IPv4
    one (mapped, compatible, NAT64, 6to4) is judged by the IPv4 address it reaches."""
    if address in _METADATA:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:  # a zone only ever names a local link
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
        if address in _NAT64_LOCAL or address in _TEREDO:
            return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_literal(host: str) -> IPAddress | None:
    """The address a host names without DNS, in any spelling a resolver would accept."""
    host = host.strip("[]").removesuffix(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class OutboundClient:
    def __init__(
        self,
        timeout: float = 10.0,
        allowlist: tuple[IPNetwork, ...] = (),
        max_connections: int = 100,
    ) -> None:
        self.allowlist = allowlist
        self.timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # aiohttp directly: httpx's own pool slowed to ~200 req/s at 32 in flight (encode/httpx
        # #3215) and, over the aiohttp transport, httpx's URL and header models still cost
        # more CPU per postback than the rest of the worker (ADR 0003).
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, use_dns_cache=False
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": USER_AGENT},
                auto_decompress=False,
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def allowed(self, address: IPAddress) -> bool:
        return is_public(address) or any(address in net for net in self.allowlist)

    async def resolve(self, host: str, port: int) -> IPAddress:
        literal = parse_literal(host)
        name = host.lower().rstrip(".")
        if literal is None and (name == "localhost" or name.endswith(".localhost")):
            raise BlockedDestination(f"{host} is a loopback name")
        if literal is not None:
            candidates = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise TransportFailure(f"cannot resolve {host}: {exc}") from exc
            candidates = [ipaddress.ip_address(info[4][0]) for info in infos]
        # Every answer must be allowed, or an attacker could mix a private one in.
        for address in candidates:
            if not self.allowed(address):
                raise BlockedDestination(f"{host} resolves to {address}, a non-public address")
        if not candidates:
            raise TransportFailure(f"{host} has no address")
        return candidates[0]

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, content: bytes = b""
    ) -> Reply:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidDestination(f"not an http(s) URL: {url[:200]}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self.resolve(parts.hostname, port)
        pinned = _with_host(parts, address, port)
        send_headers = {"Host": parts.netloc.rsplit("@", 1)[-1], **(headers or {})}
        started = time.perf_counter()
        try:
            # One deadline for the whole exchange, so a receiver that drips its answer one
            # byte at a time cannot hold a worker slot for long.
            async with asyncio.timeout(self.timeout):
                async with self._client().request(
                    method,
                    URL(pinned, encoded=True),
                    headers=send_headers,
                    data=content or None,
                    allow_redirects=False,
                    server_hostname=parts.hostname,
                ) as response:
                    text = _printable(await response.content.read(SNIPPET_MAX))
        except TimeoutError as exc:
            raise TransportFailure("timed out") from exc
        except aiohttp.ClientError as exc:
            raise TransportFailure(f"{type(exc).__name__}: {exc}"[:300]) from exc
        latency = int((time.perf_counter() - started) * 1000)
        return Reply(response.status, response.headers, text, latency)


def _with_host(parts: SplitResult, address: IPAddress, port: int) -> str:
    host = f"[{address}]" if address.version == 6 else str(address)
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, ""))


def _printable(data: bytes) -> str:
    """The start of the body as printable text: enough to debug, never enough to bloat."""
    text = data[:SNIPPET_MAX].decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)
