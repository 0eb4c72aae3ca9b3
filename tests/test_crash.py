"""kill -9 under load: nothing the server acknowledged is lost, nothing is counted twice.

A real `postback serve` process takes concurrent clicks and postbacks (some of them repeats),
is killed with SIGKILL mid-load, and is started again on the same database. A 302 promises a
stored click and `OK accepted <id>` promises a stored conversion; the database must keep both
promises, hold no conversion twice, and log every acknowledged postback.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from postback.config import Settings
from postback.kit.db import normalize_url
from postback.kit.migrate import upgrade
from tests.conftest import ADMIN_KEY, DATABASES, PG_URL, free_port
from tests.crashkit import (
    Ledger,
    Load,
    Seeded,
    ServerProcess,
    Stored,
    clickid_of,
    post_ack,
    read_stored,
    seed,
    wait_for,
)

# Enough traffic before the kill that writes are surely in flight when it lands.
CLICKS_BEFORE_KILL = 300
ACCEPTED_BEFORE_KILL = 100


@pytest.fixture(params=DATABASES)
def crash_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of its own: the server here is killed, not shared."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
        upgrade(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
        yield url
        return
    name = f"postback_crash_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(f"{PG_URL}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{PG_URL}/{name}"
        upgrade(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_kill_9_mid_load_keeps_every_acknowledged_click_and_conversion_exactly_once(
    crash_database: str, tmp_path: Path
) -> None:
    server = ServerProcess(crash_database, ADMIN_KEY, free_port(), tmp_path)
    server.start()
    try:
        seeded = seed(server.url, ADMIN_KEY)
        ledger = Ledger()
        busy = load_then_kill(server, seeded, ledger)
        # Shown with -s, and with the failure report: how much traffic the kill cut into.
        print(f"answers before the restart: {dict(ledger.statuses)}")
        assert busy, "too little traffic before the kill"
        server.start()  # same database, same port
        assert_clicks_stored_once(read_stored(crash_database), ledger)
        retry_unanswered(server, seeded, ledger)
        works_after_restart(server, seeded, ledger)
        assert_consistent(read_stored(crash_database), ledger)
    except BaseException:
        print(server.log_tail())
        raise
    finally:
        server.stop()


def load_then_kill(server: ServerProcess, seeded: Seeded, ledger: Ledger) -> bool:
    load = Load(server.url, seeded, ledger)
    load.start()
    try:
        busy = wait_for(
            lambda: (
                len(ledger.redirected) >= CLICKS_BEFORE_KILL
                and len(ledger.accepted()) >= ACCEPTED_BEFORE_KILL
            ),
            seconds=20,
        )
        server.kill9()
        # Keep the clients going a moment: they must see the server gone, not a clean stop.
        time.sleep(0.2)
    finally:
        load.join()
    return busy


def retry_unanswered(server: ServerProcess, seeded: Seeded, ledger: Ledger) -> None:
    """A postback that got no answer is retried, as a network would: it must now get a 200."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for clickid, txid in sorted(set(ledger.unanswered)):
            ledger.acks.append(post_ack(client, seeded, clickid, txid))


def works_after_restart(server: ServerProcess, seeded: Seeded, ledger: Ledger) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        resp = client.get(f"/c/{seeded.campaign_key}", params={"zone": "after"})
        assert resp.status_code == 302
        clickid = clickid_of(resp.headers["location"])
        ledger.redirected.append(clickid)
        first = post_ack(client, seeded, clickid, "tx-after")
        again = post_ack(client, seeded, clickid, "tx-after")
        assert (first.reason, again.reason) == ("accepted", "duplicate")
        ledger.acks += [first, again]
        # Conversions acknowledged before the crash are still there: a repeat is a duplicate.
        for before in ledger.accepted()[:20]:
            ack = post_ack(client, seeded, before.clickid, before.txid)
            assert ack.reason == "duplicate", f"{before} after the restart: {ack}"
            ledger.acks.append(ack)


def assert_consistent(stored: Stored, ledger: Ledger) -> None:
    assert_clicks_stored_once(stored, ledger)
    assert_conversions_stored_once(stored, ledger)
    assert_postbacks_logged(stored, ledger)


def assert_clicks_stored_once(stored: Stored, ledger: Ledger) -> None:
    assert len(set(ledger.redirected)) == len(ledger.redirected), "a click ID was handed out twice"
    lost = [c for c in ledger.redirected if stored.click_counts[c] != 1]
    assert not lost, f"{len(lost)} of {len(ledger.redirected)} redirected clicks not stored once"


def assert_conversions_stored_once(stored: Stored, ledger: Ledger) -> None:
    by_id = {row.id: row for row in stored.conversions}
    for ack in ledger.accepted():
        row = by_id.get(ack.conversion_id or "")
        assert row is not None, f"accepted conversion {ack.conversion_id} is not stored"
        assert (row.click_id, row.txid) == (ack.clickid, ack.txid)
    keys = Counter((row.click_id, row.event, row.txid) for row in stored.conversions)
    twice = [key for key, n in keys.items() if n > 1]
    assert not twice, f"conversions stored twice: {twice[:5]}"
    # However often a postback was repeated, at most one answer was "accepted" with an id.
    accepted_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for ack in ledger.accepted():
        accepted_ids[(ack.clickid, ack.txid)].add(ack.conversion_id or "")
    assert all(len(ids) == 1 for ids in accepted_ids.values())
    # A duplicate answer means the conversion exists.
    converted = Counter((row.click_id, row.txid) for row in stored.conversions)
    assert all(converted[(a.clickid, a.txid)] == 1 for a in ledger.acks)


def assert_postbacks_logged(stored: Stored, ledger: Ledger) -> None:
    logged = Counter((row.click_id, row.reason) for row in stored.log if row.http_status == 200)
    acked = Counter((ack.clickid, ack.reason) for ack in ledger.acks)
    short = {key: (n, logged[key]) for key, n in acked.items() if logged[key] < n}
    assert not short, f"acknowledged postbacks missing from the log (acked, logged): {short}"
    log_ids = {row.conversion_id for row in stored.log if row.reason == "accepted"}
    assert {ack.conversion_id for ack in ledger.accepted()} <= log_ids
