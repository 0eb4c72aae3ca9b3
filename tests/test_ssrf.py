"""The outbound SSRF guard: every non-global address is refused however it is spelled, and the
connection goes to the very address that was checked."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from postback.kit.http import BlockedDestination, OutboundClient, is_public, parse_literal
from tests.receiver import Receiver, running_receiver

NOT_GLOBAL = [
    "127.0.0.1",
    "10.0.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "::169.254.169.254",
    "64:ff9b::127.0.0.1",
    "64:ff9b::a00:1",
    "64:ff9b:1::808:808",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "2606:4700::1%eth0",
]
GLOBAL = ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("spelling", NOT_GLOBAL)
def test_non_global_addresses_are_not_public(spelling: str) -> None:
    assert not is_public(ipaddress.ip_address(spelling))


@pytest.mark.parametrize("spelling", GLOBAL)
def test_global_addresses_are_public(spelling: str) -> None:
    assert is_public(ipaddress.ip_address(spelling))


@pytest.mark.parametrize(
    "host", ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001", "127.0.0.1."]
)
def test_every_ipv4_spelling_is_read_as_the_address_it_reaches(host: str) -> None:
    assert parse_literal(host) == ipaddress.ip_address("127.0.0.1")


@pytest.fixture
def target() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def spellings(port: int) -> list[str]:
    hosts = [
        "127.0.0.1",
        "127.0.0.1.",
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "0x7f.0.0.1",
        "127.1",
        "localhost",
        "localhost.",
        "LocalHost",
        "sub.localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "[64:ff9b::127.0.0.1]",
        "[64:ff9b:1::7f00:1]",
        "[2002:7f00:1::1]",
        "[2001::7f00:1]",
        "[fe80::1%25lo]",
        "[::1%25lo]",
    ]
    return [f"http://{host}:{port}/ok" for host in hosts]


def test_no_spelling_of_a_local_address_reaches_a_local_server(target: Receiver) -> None:
    port = int(target.url.rsplit(":", 1)[1])

    async def attempt_all() -> list[str]:
        client = OutboundClient(timeout=3)
        refused = []
        try:
            for url in spellings(port):
                with pytest.raises(BlockedDestination):
                    await client.request("GET", url)
                refused.append(url)
        finally:
            await client.aclose()
        return refused

    assert len(asyncio.run(attempt_all())) == len(spellings(port))
    assert target.hits == []


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_dialled(
    target: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No second lookup that a rebinding DNS server could answer differently: the guard's own
    answer is what the connection uses (the name itself resolves nowhere)."""
    port = int(target.url.rsplit(":", 1)[1])
    lookups: list[str] = []

    async def one_answer(self: Any, host: str, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", one_answer)

    async def send(allowlist: str) -> int:
        nets = (ipaddress.ip_network(allowlist),) if allowlist else ()
        client = OutboundClient(timeout=3, allowlist=nets)
        try:
            reply = await client.request("GET", f"http://rebind.invalid:{port}/ok")
        finally:
            await client.aclose()
        return reply.status_code

    with pytest.raises(BlockedDestination):
        asyncio.run(send(""))
    assert target.hits == []
    assert asyncio.run(send("127.0.0.0/8")) == 200
    assert lookups == ["rebind.invalid", "rebind.invalid"]
    [hit] = target.hits
    assert hit.headers["host"] == f"rebind.invalid:{port}"
