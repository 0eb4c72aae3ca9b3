"""Many postbacks in one group commit: the batch reads its clicks with one query
(PostbackJob.prepare_batch), and every postback must still get exactly its own answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from postback.clicks.repository import ClickRows
from postback.conversions.reasons import Reason
from postback.conversions.receiver import PostbackJob, route
from postback.conversions.records import Outcome, PostbackRequest
from postback.kit.ids import new_click_id
from postback.kit.writer import GroupCommitWriter
from postback.models import Click, Conversion, ConversionStatusChange, PostbackLogEntry
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup


def request(setup: Setup, **params: str) -> PostbackRequest:
    assert setup.token is not None
    params = {**params, "token": setup.token}
    path = f"/postback/{setup.network_key}"
    key, currency = route(path) or (None, None)
    return PostbackRequest(
        received_at=datetime.now(UTC),
        method="GET",
        path=path,
        query="&".join(f"{k}={v}" for k, v in params.items()),
        body="",
        source_ip="127.0.0.1",
        params=dict(params),
        network_key=key,
        path_currency=currency,
    )


def run_as_one_batch(
    live: LiveServer, requests: list[PostbackRequest], max_batch: int = 512
) -> tuple[list[Any], int]:
    """Hand every postback to a writer in one turn of the event loop: they commit together
    (in batches of `max_batch`, each read ahead while the one before commits)."""
    writer = GroupCommitWriter(live.runtime.db.engine, ClickRows(), max_batch=max_batch)

    async def main() -> list[Any]:
        writer.start()
        try:
            futures = [writer.run_job(PostbackJob(live.runtime, r)) for r in requests]
            return list(await asyncio.gather(*futures, return_exceptions=True))
        finally:
            writer.stop()

    outcomes = asyncio.run(main())
    return outcomes, writer.batches


def test_a_batch_of_postbacks_gets_each_its_own_click_and_answer(
    live: LiveServer, http: httpx.Client
) -> None:
    plain = make_setup(live)
    aliased = make_setup(live, network={"aliases": {"aff_sub": "clickid"}})
    plain_clicks = [click(http, plain) for _ in range(4)]
    aliased_click = click(http, aliased)
    unknown = new_click_id()
    requests = [
        request(plain, clickid=plain_clicks[0], payout="1"),
        request(plain, cid=plain_clicks[1], payout="2"),
        request(plain, subid=plain_clicks[2], payout="3"),
        request(aliased, aff_sub=aliased_click, payout="4"),
        request(plain, clickid=unknown, payout="5"),
        # The same conversion twice in one batch: the unique constraint keeps one.
        request(plain, clickid=plain_clicks[3], payout="6"),
        request(plain, clickid=plain_clicks[3], payout="6"),
        # A click ID that is not one: never looked up, refused.
        request(plain, clickid="not-a-click", payout="7"),
    ]

    outcomes, batches = run_as_one_batch(live, requests)

    assert batches == 1  # all eight postbacks together
    assert all(isinstance(o, Outcome) for o in outcomes), outcomes
    reasons = [o.reason for o in outcomes]
    assert reasons == [
        Reason.ACCEPTED,
        Reason.ACCEPTED,
        Reason.ACCEPTED,
        Reason.ACCEPTED,
        Reason.UNKNOWN_CLICK,
        Reason.ACCEPTED,
        Reason.DUPLICATE,
        Reason.UNKNOWN_CLICK,
    ]
    with live.runtime.db.session() as s:
        stored = s.execute(
            select(Conversion.id, Conversion.click_id, Conversion.campaign_id, Click.campaign_id)
            .join(Click, Click.id == Conversion.click_id)
            .order_by(Conversion.payout_micros)
        ).all()
        logged = s.scalar(select(PostbackLogEntry.id).where(PostbackLogEntry.reason == "duplicate"))
    assert [row.click_id for row in stored] == [*plain_clicks[:3], aliased_click, plain_clicks[3]]
    # Each conversion carries its own click's campaign, never a neighbour's in the batch.
    assert all(row[2] == row[3] for row in stored)
    assert [o.conversion_id for o in outcomes[:4]] == [row.id for row in stored[:4]]
    assert outcomes[6].conversion_id == outcomes[5].conversion_id == stored[4].id
    assert logged == outcomes[6].log_id


def test_repeats_within_one_batch_follow_the_duplicate_mode_in_order(
    live: LiveServer, http: httpx.Client
) -> None:
    """All conversion rows of a batch are inserted with one statement; the ones it skips must
    still go through the repeat rules one after the other, as separate postbacks would."""
    setup = make_setup(live, network={"duplicate_mode": "update"})
    cid = click(http, setup)
    requests = [
        request(setup, clickid=cid, payout="2", status="pending"),
        request(setup, clickid=cid, payout="3", status="approved"),
        request(setup, clickid=cid, payout="3", status="approved"),
        request(setup, clickid=cid, payout="3", status="refunded"),
    ]

    outcomes, batches = run_as_one_batch(live, requests)

    assert batches == 1
    assert [o.reason for o in outcomes] == [
        Reason.ACCEPTED,
        Reason.UPDATED,
        Reason.DUPLICATE,
        Reason.UPDATED,
    ]
    with live.runtime.db.session() as s:
        conversion = s.scalars(select(Conversion)).one()
        ledger = s.execute(
            select(
                ConversionStatusChange.to_status, ConversionStatusChange.revenue_delta_micros
            ).order_by(ConversionStatusChange.id)
        ).all()
    assert (conversion.status, conversion.payout_micros) == ("refunded", 3_000_000)
    assert [tuple(r) for r in ledger] == [
        ("pending", 0),
        ("approved", 3_000_000),
        ("refunded", -3_000_000),
    ]


def test_batches_read_ahead_while_the_one_before_commits(
    live: LiveServer, http: httpx.Client
) -> None:
    """With batches of 3, the second and third batches run their steps on a read connection
    while the batch before them commits; a conversion that batch makes must still turn their
    repeat of it into a duplicate, not a second conversion."""
    plain = make_setup(live)
    aliased = make_setup(live, network={"aliases": {"aff_sub": "clickid"}})
    first, second = click(http, plain), click(http, plain)
    other = click(http, aliased)
    requests = [
        request(plain, clickid=first, payout="1"),
        request(plain, clickid=second, payout="2"),
        request(plain, clickid="not-a-click", payout="3"),
        # read ahead while the first three commit:
        request(plain, clickid=first, payout="1"),
        request(aliased, aff_sub=other, payout="5"),
        request(plain, clickid=new_click_id(), payout="6"),
        # and while those commit:
        request(plain, clickid=second, payout="2"),
    ]

    outcomes, batches = run_as_one_batch(live, requests, max_batch=3)

    assert batches == 3
    assert [o.reason for o in outcomes] == [
        Reason.ACCEPTED,
        Reason.ACCEPTED,
        Reason.UNKNOWN_CLICK,
        Reason.DUPLICATE,
        Reason.ACCEPTED,
        Reason.UNKNOWN_CLICK,
        Reason.DUPLICATE,
    ]
    assert outcomes[3].conversion_id == outcomes[0].conversion_id
    assert outcomes[6].conversion_id == outcomes[1].conversion_id
    with live.runtime.db.session() as s:
        stored = s.execute(select(Conversion.click_id, Conversion.network_id)).all()
        logged = s.scalar(select(func.count()).select_from(PostbackLogEntry))
    assert sorted(c for c, _ in stored) == sorted([first, second, other])
    assert (other, aliased.network_id) in [tuple(r) for r in stored]
    assert logged == len(requests)
