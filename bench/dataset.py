"""Databases for the benchmark: a fresh one per run, migrated, seeded, read back, dropped."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, func, select, text

from postback.config import Settings
from postback.kit.db import normalize_url
from postback.kit.ids import new_click_id
from postback.kit.migrate import upgrade
from postback.models import Click, Conversion

# The server under test is started with this key (POSTBACK_ADMIN_API_KEY) and seeded with it.
ADMIN_KEY = "pb_bench_" + uuid.uuid4().hex
PG_URL = os.environ.get("POSTBACK_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
OFFER_URL = (
    "https://offer.example/landing?cid={clickid}&zone={zone}&src={placement}"
    "&ext={external_id}&geo={country}&dev={device}"
)


@dataclass(frozen=True)
class Seeded:
    campaign_key: str
    # The network's postback path with its token, as the product generates it.
    postback_path: str


@contextmanager
def fresh_database(kind: str, workdir: Path, keep: bool = False) -> Iterator[str]:
    """A migrated, empty database of `kind` (sqlite or postgresql), removed afterwards unless
    `keep`."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="sqlite-", dir=workdir))
        url = f"sqlite:///{folder / 'bench.db'}"
        try:
            upgrade(settings_for(url))
            yield url
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"postback_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(f"{PG_URL}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{PG_URL}/{name}"
        upgrade(settings_for(url))
        yield url
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]


def engine_for(url: str) -> Engine:
    return create_engine(normalize_url(url))


def seed(base_url: str) -> Seeded:
    """One traffic source, network, offer and campaign, created through the admin API."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=base_url + "/api/v1", headers=headers, timeout=10) as api:
        source = _created(api.post("/traffic-sources", json={"name": "bench source"}))
        network = _created(api.post("/networks", json={"name": "bench network"}))
        offer_in = {"name": "bench offer", "url": OFFER_URL, "network_id": network["id"]}
        offer = _created(api.post("/offers", json=offer_in))
        campaign = _created(
            api.post(
                "/campaigns",
                json={
                    "name": "bench campaign",
                    "traffic_source_id": source["id"],
                    "offers": [{"offer_id": offer["id"]}],
                },
            )
        )
    path = f"/postback/{network['key']}?token={network['secret']}"
    return Seeded(campaign_key=campaign["key"], postback_path=path)


def _created(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code not in (200, 201):
        raise RuntimeError(f"{resp.request.url}: {resp.status_code} {resp.text}")
    return dict(resp.json())


def click_ids(url: str) -> list[str]:
    engine = engine_for(url)
    with engine.connect() as conn:
        ids = list(conn.scalars(select(Click.id).order_by(Click.id)))
    engine.dispose()
    return ids


def top_up_clicks(url: str, count: int) -> None:
    """Copy a stored click `count` times under new IDs, when the click run made too few."""
    engine = engine_for(url)
    table = Click.__table__
    with engine.begin() as conn:
        template = dict(conn.execute(select(table).limit(1)).mappings().one())
        now = datetime.now(UTC)
        rows = [{**template, "id": new_click_id(), "created_at": now} for _ in range(count)]
        for start in range(0, len(rows), 5000):
            conn.execute(table.insert(), rows[start : start + 5000])
    engine.dispose()


def count_conversions(url: str) -> tuple[int, int]:
    """(conversions, distinct clicks converted): equal when no click converted twice."""
    engine = engine_for(url)
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(Conversion))
        clicks = conn.scalar(select(func.count(func.distinct(Conversion.click_id))))
    engine.dispose()
    return int(total or 0), int(clicks or 0)
