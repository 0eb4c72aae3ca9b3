"""The postback lab: why did (or would) a postback fail, and what happened to a click?

A replay rebuilds the logged request, routes and parses it exactly as the receiver does, and runs
the live pipeline on it in a transaction that is always rolled back: it sees today's networks,
clicks and conversions, and writes nothing (no conversion, no log row, no delivery).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from postback.config import Settings
from postback.conversions import receiver
from postback.conversions import service as pipeline
from postback.conversions.parsing import Refused
from postback.conversions.reasons import Reason
from postback.conversions.records import Outcome, PostbackRequest
from postback.conversions.schemas import ConversionDetail, StatusChangeOut
from postback.deliveries import service as deliveries
from postback.deliveries.schemas import DeliveryDetail
from postback.kit.cache import TTLCache
from postback.kit.errors import NotFound
from postback.kit.ids import looks_like_click_id
from postback.lab import repository
from postback.lab.schemas import ClickExplained, ExplainedClick, Named, ReplayOut, StepVerdict
from postback.models import Click, Conversion, PostbackLogEntry
from postback.postback_log.schemas import LogEntryOut

RECEIVE = "receive"  # routing, method and parameter parsing, done by the receiver
RECORD = "record_conversion"


def replay(engine: Engine, settings: Settings, entry: PostbackLogEntry) -> ReplayOut:
    """Run a logged postback through today's pipeline as a dry run."""
    # "Today" includes the time: a re-sent postback would arrive now, so the lookback window
    # is measured to now, not to when the logged request came in.
    request = PostbackRequest(
        received_at=datetime.now(UTC),
        method=entry.method,
        path=entry.path,
        query=entry.query,
        body=entry.body,
        source_ip=entry.source_ip,
        params={},
    )
    try:
        receiver.route_request(request)
        # The content type is not logged; a JSON body is still recognised by its leading "{".
        receiver.parse_params(request, "")
    except Refused as refused:
        return _verdict(entry.id, [], Outcome(refused.reason, refused.detail), received=False)
    trace: pipeline.Trace = []
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            # A fresh cache, so the replay sees the network as saved now, not as cached.
            outcome = pipeline.process(conn, request, TTLCache(0), settings, trace)
        finally:
            transaction.rollback()
    return _verdict(entry.id, trace, outcome, received=True)


def _verdict(log_id: str, trace: pipeline.Trace, outcome: Outcome, *, received: bool) -> ReplayOut:
    steps = [StepVerdict(step=RECEIVE, verdict="pass")] if received else []
    steps += [
        StepVerdict.model_validate({"step": s, "verdict": v, "detail": d or None})
        for s, v, d in trace
    ]
    # Every pipeline step appends "pass" once it is through, so the first step not in the trace
    # is the one that gave the outcome (sub-checks such as authenticate.token are not steps).
    names = [RECEIVE, *(step.__name__ for step in pipeline.STEPS), RECORD]
    done = sum("." not in s.step for s in steps)
    last, *rest = names[done:]
    refused = outcome.reason.http_status != 200
    steps.append(
        StepVerdict(
            step=last,
            verdict="refused" if refused else "pass",
            reason=outcome.reason.value,
            detail=outcome.detail or None,
        )
    )
    steps += [StepVerdict(step=name, verdict="skipped", detail="not reached") for name in rest]
    return ReplayOut(
        log_id=log_id,
        steps=_once_each(steps),
        outcome=outcome.reason.value,
        detail=outcome.detail or _DETAIL.get(outcome.reason, ""),
        would_create_conversion=outcome.reason is Reason.ACCEPTED,
    )


def _once_each(steps: list[StepVerdict]) -> list[StepVerdict]:
    """authenticate runs twice (again once the click names the network): list a step once,
    unless its second run is the one that refused."""
    seen: set[str] = set()
    kept = []
    for step in steps:
        if step.step not in seen or step.verdict == "refused":
            kept.append(step)
        seen.add(step.step)
    return kept


_DETAIL = {
    Reason.ACCEPTED: "a new conversion would be recorded",
    Reason.DUPLICATE: "the conversion is already recorded; nothing would change",
}


def explain(session: Session, clickid: str, account_currency: str) -> ClickExplained:
    # Checked first: junk such as NUL characters must be a 404, not a database error.
    click = repository.click(session, clickid.upper()) if looks_like_click_id(clickid) else None
    if click is None:
        raise NotFound(f"click {clickid!r} does not exist")
    conversions = repository.conversions(session, click.id)
    ids = [c.id for c in conversions]
    return ClickExplained(
        click=_click(session, click),
        conversions=_conversions(session, conversions, account_currency),
        postbacks=[
            LogEntryOut.model_validate(e) for e in repository.postbacks(session, click.id, ids)
        ],
        deliveries=_deliveries(session, ids),
    )


def _click(session: Session, click: Click) -> ExplainedClick:
    campaign = repository.campaign(session, click.campaign_id)
    offer = repository.offer(session, click.offer_id)
    return ExplainedClick(
        clickid=click.id,
        created_at=click.created_at,
        campaign=Named.model_validate(campaign) if campaign else None,
        offer=Named.model_validate(offer) if offer else None,
        traffic_source_id=click.traffic_source_id,
        external_id=click.external_id,
        tokens=click.tokens or {},
        test=click.is_test,
    )


def _conversions(
    session: Session, rows: Sequence[Conversion], currency: str
) -> list[ConversionDetail]:
    history = defaultdict(list)
    for change in repository.history(session, [r.id for r in rows]):
        history[change.conversion_id].append(StatusChangeOut.model_validate(change))
    return [
        ConversionDetail.model_validate(row).model_copy(
            update={"currency": currency, "history": history[row.id]}
        )
        for row in rows
    ]


def _deliveries(session: Session, conversion_ids: list[str]) -> list[DeliveryDetail]:
    rows = repository.deliveries(session, conversion_ids)
    return deliveries.shown(session, rows, repository.attempts(session, [d.id for d in rows]))
