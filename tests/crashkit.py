"""Helpers for the crash test: a server in its own process, load that records every answer,
and a read of what the database holds afterwards.

Only 127.0.0.1 is ever targeted, and every load loop is bounded in requests and in time.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import create_engine, select

from postback.kit.db import normalize_url
from postback.models import (
    Click,
    Conversion,
    PostbackLogEntry,
)

OFFER_URL = "https://offer.test/land?cid={clickid}&zone={zone}"
TRANSPORT_ERRORS = (httpx.TransportError, httpx.RemoteProtocolError)


@dataclass
class ServerProcess:
    """`postback serve` in its own process group, so SIGKILL takes exactly what we started."""

    database_url: str
    admin_key: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        env = {
            **os.environ,
            "POSTBACK_DATABASE_URL": self.database_url,
            "POSTBACK_ADMIN_API_KEY": self.admin_key,
            "POSTBACK_PUBLIC_URL": self.url,
            "POSTBACK_LOG_LEVEL": "WARNING",
        }
        cmd = [sys.executable, "-m", "postback.cli", "serve", "--no-migrate"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.workdir / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill9()

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "server.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Seeded:
    campaign_key: str
    network_key: str
    token: str


def seed(base_url: str, admin_key: str) -> Seeded:
    """A traffic source, network, offer and campaign, created through the admin API."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=base_url + "/api/v1", headers=headers, timeout=10) as api:
        source = _created(api.post("/traffic-sources", json={"name": "crash source"}))
        network = _created(api.post("/networks", json={"name": "crash network"}))
        offer = _created(
            api.post("/offers", json={"name": "o", "url": OFFER_URL, "network_id": network["id"]})
        )
        campaign = _created(
            api.post(
                "/campaigns",
                json={
                    "name": "crash campaign",
                    "traffic_source_id": source["id"],
                    "offers": [{"offer_id": offer["id"]}],
                },
            )
        )
    return Seeded(campaign["key"], network["key"], network["secret"])


def _created(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code in (200, 201), f"{resp.request.url}: {resp.status_code} {resp.text}"
    return dict(resp.json())


@dataclass(frozen=True)
class Ack:
    clickid: str
    txid: str
    reason: str  # "accepted" or "duplicate"
    conversion_id: str | None


@dataclass
class Ledger:
    """Everything the clients were told, shared by the load threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    redirected: list[str] = field(default_factory=list)
    posted: list[tuple[str, str]] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    # Postbacks with no answer (the server died under them): their outcome is unknown.
    unanswered: list[tuple[str, str]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def accepted(self) -> list[Ack]:
        return [a for a in self.acks if a.reason == "accepted"]


def clickid_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["cid"][0]


def parse_ack(clickid: str, txid: str, resp: httpx.Response) -> Ack | None:
    """The acknowledgement in a 200 answer, None for any other answer."""
    if resp.status_code != 200:
        return None
    words = resp.text.split()
    if words[:2] == ["OK", "accepted"] and len(words) == 3:
        return Ack(clickid, txid, "accepted", words[2])
    assert words == ["OK", "duplicate"], f"unexpected 200 body {resp.text!r}"
    return Ack(clickid, txid, "duplicate", None)


def post(client: httpx.Client, seeded: Seeded, clickid: str, txid: str) -> httpx.Response:
    params = {"clickid": clickid, "payout": "1.5", "txid": txid, "token": seeded.token}
    return client.get(f"/postback/{seeded.network_key}", params=params)


def post_ack(client: httpx.Client, seeded: Seeded, clickid: str, txid: str) -> Ack:
    """Post and insist on a 200 acknowledgement."""
    resp = post(client, seeded, clickid, txid)
    ack = parse_ack(clickid, txid, resp)
    assert ack is not None, f"postback for {clickid}: {resp.status_code} {resp.text}"
    return ack


@dataclass
class Load:
    """Concurrent clicks and postbacks until `stop` is set, bounded in count and time."""

    base_url: str
    seeded: Seeded
    ledger: Ledger
    click_threads: int = 8
    postback_threads: int = 4
    max_requests: int = 3000  # per thread
    max_seconds: float = 20
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        workers = [(self._clicks, n) for n in range(self.click_threads)]
        workers += [(self._postbacks, n) for n in range(self.postback_threads)]
        for target, n in workers:
            thread = threading.Thread(target=target, args=(n,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "load threads did not stop"

    def _running(self, deadline: float, sent: int) -> bool:
        return not self.stop.is_set() and sent < self.max_requests and time.monotonic() < deadline

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, follow_redirects=False)

    def _clicks(self, n: int) -> None:
        deadline, sent = time.monotonic() + self.max_seconds, 0
        with self._client() as client:
            while self._running(deadline, sent):
                sent += 1
                params = {"zone": f"z{n}", "sub1": str(sent), "external_id": f"e{n}-{sent}"}
                try:
                    resp = client.get(f"/c/{self.seeded.campaign_key}", params=params)
                except TRANSPORT_ERRORS:
                    self._count("click: no answer")
                    time.sleep(0.01)
                    continue
                self._count(f"click: {resp.status_code}")
                if resp.status_code == 302:
                    with self.ledger.lock:
                        self.ledger.redirected.append(clickid_of(resp.headers["location"]))

    def _postbacks(self, n: int) -> None:
        rng = random.Random(n)
        deadline, sent, next_click = time.monotonic() + self.max_seconds, 0, n
        with self._client() as client:
            while self._running(deadline, sent):
                key, next_click = self._pick(rng, next_click)
                if key is None:
                    time.sleep(0.005)
                    continue
                sent += 1
                self._post_once(client, *key)

    def _pick(self, rng: random.Random, next_click: int) -> tuple[tuple[str, str] | None, int]:
        """A click not posted yet, or (one time in four) a repeat of an earlier postback."""
        with self.ledger.lock:
            if self.ledger.posted and rng.random() < 0.25:
                return rng.choice(self.ledger.posted), next_click
            if next_click >= len(self.ledger.redirected):
                return None, next_click
            clickid = self.ledger.redirected[next_click]
            key = (clickid, f"tx-{clickid}")
            self.ledger.posted.append(key)
        # Each postback thread takes every postback_threads-th click, so none is skipped.
        return key, next_click + self.postback_threads

    def _post_once(self, client: httpx.Client, clickid: str, txid: str) -> None:
        try:
            resp = post(client, self.seeded, clickid, txid)
        except TRANSPORT_ERRORS:
            self._count("postback: no answer")
            with self.ledger.lock:
                self.ledger.unanswered.append((clickid, txid))
            time.sleep(0.01)
            return
        self._count(f"postback: {resp.status_code}")
        ack = parse_ack(clickid, txid, resp)
        if ack is not None:
            with self.ledger.lock:
                self.ledger.acks.append(ack)

    def _count(self, what: str) -> None:
        with self.ledger.lock:
            self.ledger.statuses[what] += 1


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@dataclass
class Stored:
    """What the database holds after the crash."""

    click_counts: Counter[str]
    conversions: list[Any]
    log: list[Any]


def read_stored(database_url: str) -> Stored:
    engine = create_engine(normalize_url(database_url))
    with engine.connect() as conn:
        clicks = Counter(conn.scalars(select(Click.id)))
        conversions = conn.execute(
            select(Conversion.id, Conversion.click_id, Conversion.event, Conversion.txid)
        ).all()
        log = conn.execute(
            select(
                PostbackLogEntry.click_id,
                PostbackLogEntry.reason,
                PostbackLogEntry.http_status,
                PostbackLogEntry.conversion_id,
            )
        ).all()
    engine.dispose()
    return Stored(click_counts=clicks, conversions=list(conversions), log=list(log))
