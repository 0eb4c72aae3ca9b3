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


def is_public(address: IPAddress) -> bool:
    if address in _METADATA:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


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
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
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
