"""Report test data: random clicks, conversions and status changes written straight to the
database, and the truth a report must equal, computed naively from the raw rows.

The campaigns cost nothing per conversion, a CPA, and a RevShare percentage, so conversion
costs (kept on the ledger rows, like revenue) are in every report the tests ask for."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select
from ulid import ULID

from postback.conversions.ledger import SUPERSEDED, CostTerms, recognised_revenue
from postback.kit.ids import new_id, new_key
from postback.kit.money import format_micros
from postback.models import (
    Campaign,
    Click,
    Conversion,
    ConversionStatusChange,
    Lander,
    Network,
    Offer,
    TrafficSource,
)
from postback.reports.dimensions import COLUMNS, token_name
from postback.reports.facts import CONV_COST, REVENUE
from postback.reports.metrics import Sums, metrics
from postback.reports.schemas import ReportQuery

COUNTRIES = ["US", "DE", "IN", None]
DEVICES = ["mobile", "desktop", None]
STATUSES = ["approved", "pending", "rejected", "refunded", "chargeback"]
# Event names as sent: a mixed-case one is its own event, apart from its lower-case spelling.
EVENTS = ["conversion", "install", "purchase", "LeadFormSubmit", "leadformsubmit"]
# Per campaign: no conversion cost, a CPA of 1.25, a RevShare of 33.333333% (rounds often).
COST_TERMS = [CostTerms(), CostTerms("cpa", 1_250_000), CostTerms("revshare", 33_333_333)]


@dataclass
class Config:
    campaigns: list[tuple[int, int]]  # (campaign_id, traffic_source_id)
    offers: list[int]
    terms: dict[int, CostTerms]
    landers: list[int]  # campaign_id -> its conversion cost terms


def make_config(conn: Connection) -> Config:
    src = [
        conn.execute(TrafficSource.__table__.insert().values(name=f"s{i}")).inserted_primary_key[0]
        for i in range(2)
    ]  # type: ignore[attr-defined]
    net = conn.execute(
        Network.__table__.insert().values(key=new_key(), name="n")
    ).inserted_primary_key[0]  # type: ignore[attr-defined]
    offers = [
        conn.execute(
            Offer.__table__.insert().values(
                name=f"o{i}", url="https://o.test/", network_id=net if i else None
            )
        ).inserted_primary_key[0]  # type: ignore[attr-defined]
        for i in range(2)
    ]
    landers = [
        conn.execute(
            Lander.__table__.insert().values(name=f"l{i}", url="https://l.test/")
        ).inserted_primary_key[0]  # type: ignore[attr-defined]
        for i in range(2)
    ]
    campaigns = []
    terms = {}
    for i, cost in enumerate(COST_TERMS):
        cid = conn.execute(
            Campaign.__table__.insert().values(
                key=new_key(), name=f"c{i}", traffic_source_id=src[i % 2],
                cost_model=cost.model, cost_micros=cost.micros,
            )
        ).inserted_primary_key[0]  # type: ignore[attr-defined]  # fmt: skip
        campaigns.append((cid, src[i % 2]))
        terms[cid] = cost
    return Config(campaigns, offers, terms, landers)


def click_id_at(moment: datetime, rng: random.Random) -> str:
    ms = int(moment.timestamp() * 1000)
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + rng.randbytes(10)))


SOURCES = ("postback", "postback", "manual", "pixel")


def make_rows(
    engine: Engine,
    rng: random.Random,
    base: datetime,
    n_clicks: int,
    n_conv: int,
    days: int = 4,
    sources: tuple[str, ...] = SOURCES,
) -> None:
    """Clicks over `days` days from `base`, and conversions of random clicks, recorded by
    `sources` (a pixel's superseded by a postback half the time)."""
    with engine.begin() as conn:
        cfg = make_config(conn)
        clicks = [_click(cfg, rng, base, days) for _ in range(n_clicks)]
        if clicks:
            conn.execute(Click.__table__.insert(), clicks)
        for _ in range(n_conv if clicks else 0):
            _conversion(conn, rng, rng.choice(clicks), cfg.terms, rng.choice(sources))


def _click(cfg: Config, rng: random.Random, base: datetime, days: int) -> dict[str, Any]:
    at = base + timedelta(seconds=rng.randrange(days * 86400), microseconds=rng.randrange(10**6))
    campaign_id, source_id = rng.choice(cfg.campaigns)
    tokens = {"zone": rng.choice(["z1", "z2", ""])} if rng.random() < 0.8 else {}
    if rng.random() < 0.3:
        tokens["sub1"] = rng.choice(["a", "b"])
    return {
        "id": click_id_at(at, rng),
        "created_at": at,
        "campaign_id": campaign_id,
        "offer_id": rng.choice([*cfg.offers, None]),
        "lander_id": rng.choice([*cfg.landers, None]),
        "traffic_source_id": source_id,
        "ip": rng.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3", None]),
        "country": rng.choice(COUNTRIES),
        "device": rng.choice(DEVICES),
        "os": rng.choice(["Android", "iOS"]),
        "browser": None,
        "tokens": tokens,
        "cost_micros": rng.choice([0, 1, 125, 1_000_000]),
        "is_test": rng.random() < 0.1,
    }


def _conversion(
    conn: Connection,
    rng: random.Random,
    click: dict[str, Any],
    terms: dict[int, CostTerms],
    source: str,
) -> None:
    """A conversion and its ledger: a first status, then up to two changes of status or payout
    (as `update` and `accumulate` repeats make), revenue and cost following each."""
    at = click["created_at"] + timedelta(seconds=rng.randrange(2 * 86400))
    payout = rng.choice([1, 1_500_000, 999_999, 250_000_000])
    # A sale value beside the payout on some conversions (recognised like revenue).
    amount = rng.choice([None, None, 7, 12_500_000])
    status = rng.choice(STATUSES[:3])
    conv_id = new_id()
    cost = terms[click["campaign_id"]].cost
    revenue = recognised_revenue(status, payout)
    sale = recognised_revenue(status, amount or 0)
    # (from, to, payout, revenue, cost, sale, at, source): the state after each ledger row
    changes = [(None, status, payout, revenue, cost(status, revenue), sale, at, source)]
    for _ in range(rng.randrange(3)):
        prev, new = changes[-1][1], rng.choice(STATUSES)
        when = changes[-1][6] + timedelta(seconds=rng.randrange(86400))
        if source == "pixel" and rng.random() < 0.5:
            # A postback supersedes the pixel: its state withdrawn, the postback's recorded.
            changes.append((prev, SUPERSEDED, 0, 0, 0, 0, when, "pixel"))
            source, prev = "postback", None
        elif rng.random() < 0.3:
            payout += rng.choice([1, 500_001])
        revenue = recognised_revenue(new, payout)
        sale = recognised_revenue(new, amount or 0)
        changes.append((prev, new, payout, revenue, cost(new, revenue), sale, when, source))
    conn.execute(
        Conversion.__table__.insert().values(
            id=conv_id, click_id=click["id"], dedupe_key=conv_id, created_at=at, updated_at=at,
            click_at=click["created_at"], campaign_id=click["campaign_id"],
            offer_id=click["offer_id"], network_id=None,
            traffic_source_id=click["traffic_source_id"], event=rng.choice(EVENTS), txid=None,
            status=changes[-1][1], payout_micros=payout, revenue_micros=changes[-1][3],
            cost_micros=changes[-1][4], commission_micros=0, original_amount="1",
            original_currency="USD", fx_rate="1", fx_date=None, params={},
            is_test=click["is_test"], amount_micros=amount, source=source,
        )
    )  # fmt: skip
    before = (0, 0, 0, 0)
    for prev, new, *now, when, row_source in changes:
        payout_delta, revenue_delta, cost_delta, sale_delta = (
            a - b for a, b in zip(now, before, strict=True)
        )
        conn.execute(
            ConversionStatusChange.__table__.insert().values(
                conversion_id=conv_id, at=when, from_status=prev, to_status=new,
                payout_delta_micros=payout_delta, revenue_delta_micros=revenue_delta,
                cost_delta_micros=cost_delta, amount_delta_micros=sale_delta,
                source=row_source,
            )
        )  # fmt: skip
        before = tuple(now)


# --- truth -------------------------------------------------------------------------------


def label(unit: str, moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    if unit == "day":
        return local.date().isoformat()
    if unit == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        return start.isoformat(timespec="minutes")
    if unit == "week":
        return (local.date() - timedelta(days=local.weekday())).isoformat()
    return f"{local.year:04d}-{local.month:02d}"


def truth(
    conn: Connection, q: ReportQuery, left_out: Collection[str] = ()
) -> tuple[dict[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """What a report of the raw rows says, without the clicks and conversions `left_out`."""
    network = dict(conn.execute(select(Offer.id, Offer.network_id)).all())
    groups: dict[tuple[Any, ...], Sums] = {}
    totals = Sums()
    first: set[tuple[Any, ...]] = set()
    by_id = {}
    for row in conn.execute(
        select(Click.__table__).order_by(Click.created_at, Click.id)
    ).mappings():
        by_id[row["id"]] = row
        if row["id"] in left_out:
            continue
        visitor = (
            row["campaign_id"],
            row["ip"] or row["id"],
            row["created_at"].astimezone(UTC).date(),
        )
        unique = visitor not in first
        first.add(visitor)
        key = _key(q, row, row["created_at"], network)
        if key is None:
            continue
        vec = (1, int(unique), row["cost_micros"])
        groups.setdefault(key, Sums()).add_clicks(vec)
        totals.add_clicks(vec)
    conversions = conn.execute(select(Conversion.__table__)).mappings().all()
    for basis in q.bases:
        for conv in conversions:
            if conv["id"] in left_out:
                continue
            click = by_id[conv["click_id"]]
            moment = conv["created_at"] if basis == 0 else conv["click_at"]
            key = _key(q, click, moment, network, conv["source"])
            if key is None:
                continue
            vec = [1] + [int(conv["status"] == s) for s in STATUSES]
            sale = recognised_revenue(conv["status"], conv["amount_micros"] or 0)
            vec += [conv["revenue_micros"], conv["cost_micros"], sale]
            groups.setdefault(key, Sums()).add_conversions(basis, conv["event"], vec)
            totals.add_conversions(basis, conv["event"], vec)
    return {k: _expected(v, q.bases) for k, v in groups.items()}, _expected(totals, q.bases)


def _expected(sums: Sums, bases: tuple[int, ...]) -> dict[str, Any]:
    """The metrics of `sums`, with cost and profit worked out here rather than trusted:
    the clicks' cost plus the conversions' cost on the same basis."""
    out = metrics(sums, bases)
    for i, basis in enumerate(bases):
        prefix = "click_time_" if i else ""
        vec = sums.conversions.get(basis)
        revenue, conversion_cost = (vec[REVENUE], vec[CONV_COST]) if vec else (0, 0)
        cost = sums.clicks[2] + conversion_cost
        out[prefix + "cost"] = format_micros(cost)
        out[prefix + "profit"] = format_micros(revenue - cost)
    return out


def _key(
    q: ReportQuery,
    click: Any,
    moment: datetime,
    network: dict[int, int | None],
    source: str | None = None,
) -> tuple[Any, ...] | None:
    if not q.start <= moment < q.end or (click["is_test"] and not q.include_test):
        return None
    values: dict[str, Any] = {}
    for dim in {*q.group_by, *q.filters}:
        name = token_name(dim)
        if name is not None:
            if name not in (click["tokens"] or {}):
                return None
            values[dim] = click["tokens"][name]
        elif dim in ("day", "hour", "week", "month"):
            values[dim] = label(dim, moment, q.zone)
        elif dim == "network":
            values[dim] = network.get(click["offer_id"]) if click["offer_id"] else None
        elif dim == "conversion_source":
            values[dim] = source
        else:
            values[dim] = click[COLUMNS[dim]]
    for dim, allowed in q.filters.items():
        if values[dim] not in allowed:
            return None
    return tuple(values[d] for d in q.group_by)
