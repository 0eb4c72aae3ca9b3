"""Migration 0015 redacts postback-log rows stored before redaction covered every refusal, with
the pipeline's own redaction, in batches by primary key, on both databases."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import Engine, create_engine, insert, table, text
from sqlalchemy.sql import column

from postback.config import Settings
from postback.kit.db import normalize_url
from postback.kit.ids import new_id
from postback.kit.migrate import upgrade
from tests.conftest import DATABASES, scratch_database
from tests.test_secret_redaction import spellings

CANARY = "Canary+Secret/42=zz-0123"
SIGNING = "SigningCanary-9876543210"
NETWORK = """
INSERT INTO networks (id, key, name, template, secret, signing_secret, allowed_ips, currency,
    lookback_days, duplicate_mode, duplicate_modes, aliases, status_map, archived,
    created_at, updated_at)
    VALUES (1, 'k1', 'n', 'custom', :secret, :signing, '[]', 'USD', 30, 'ignore', '{}',
    '{"sec": "token"}', '{}', false, :at, :at)
"""
# What a refused request could leave in the log before: each row with the secret somewhere.
LEAKY = [
    ("/postback/k1", f"clickid=x&token={quote(CANARY, safe='')}", "", {"clickid": "x"}),
    ("/postback", f"clickid=x&sec={quote_plus(CANARY)}", "", {"sec": CANARY}),
    ("/postback", "clickid=x&TOKEN=nope", "", {"token": "nope"}),
    ("/postback/k1", "", '{"token": "' + CANARY + '", ', {}),
    (f"/postback/{quote(CANARY, safe='')}", "clickid=x", "", {"data": {"token": CANARY}}),
    ("/postback", f"clickid=x&signature={SIGNING}", f"key={CANARY}", {}),
]
CLEAN = ("/postback/k1", "clickid=plain&payout=1", "", {"clickid": "plain"})
log = table(
    "postback_log",
    *(column(c) for c in ("id", "received_at", "method", "path", "query", "body")),
    column("parsed"), column("outcome"), column("reason"), column("http_status"),
)  # fmt: skip


@pytest.fixture(params=DATABASES)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with scratch_database(request.param, tmp_path) as url:
        yield url


def row(path: str, query: str, body: str, parsed: dict[str, object]) -> dict[str, object]:
    return {
        "id": new_id(), "received_at": "2026-01-01 00:00:00", "method": "GET", "path": path,
        "query": query, "body": body, "parsed": json.dumps(parsed), "outcome": "refused",
        "reason": "bad_token", "http_status": 403,
    }  # fmt: skip


def fill(engine: Engine) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    leaky = [row(*r) for r in LEAKY for _ in range(3)]
    clean = [row(*CLEAN) for _ in range(40)]
    with engine.begin() as conn:
        conn.execute(
            text(NETWORK), {"secret": CANARY, "signing": SIGNING, "at": "2026-01-01 00:00:00"}
        )
        conn.execute(insert(log), leaky + clean)
    return leaky, clean


def test_old_log_rows_lose_their_secrets(empty_database: str) -> None:
    settings = Settings(database_url=empty_database, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings, "0014")
    engine = create_engine(normalize_url(empty_database))
    leaky, clean = fill(engine)
    upgrade(settings)
    assert_redacted(engine, leaky, clean)


def test_the_redaction_walks_the_log_in_batches(empty_database: str) -> None:
    settings = Settings(database_url=empty_database, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_engine(normalize_url(empty_database))
    leaky, clean = fill(engine)
    migration = importlib.import_module("postback.migrations.versions.0015_redact_old_postback_log")
    with engine.begin() as conn:  # batches much smaller than the table
        assert migration.redact_log(conn, 7) == len(leaky)  # only changed rows are written
    assert_redacted(engine, leaky, clean)
    with engine.begin() as conn:
        assert migration.redact_log(conn, 7) == 0


def assert_redacted(
    engine: Engine, leaky: list[dict[str, object]], clean: list[dict[str, object]]
) -> None:
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT id, path, query, body, parsed FROM postback_log"))
        rows = {r[0]: r for r in stored}
    engine.dispose()
    assert len(rows) == len(leaky) + len(clean)
    forbidden = spellings(CANARY) | spellings(SIGNING)
    for r in rows.values():
        content = " ".join(str(v) for v in r)
        assert not [f for f in forbidden if f in content], content
    # Still useful: masked by name, the rest kept; a clean row is left as it was.
    assert any("token=***" in r[2] for r in rows.values())
    assert any("TOKEN=***" in r[2] for r in rows.values())
    first = clean[0]
    assert rows[first["id"]][1:4] == (first["path"], first["query"], first["body"])
