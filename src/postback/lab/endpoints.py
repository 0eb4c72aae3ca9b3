"""The postback lab: `POST /postback-log/{id}/replay` (dry run) and `GET /clicks/{id}/explain`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.kit.deps import RuntimeDep
from postback.kit.errors import BadRequest
from postback.kit.session import ReadSessionDep
from postback.lab import service
from postback.lab.schemas import ClickExplained, ReplayOut
from postback.postback_log import service as postback_log

router = APIRouter(tags=["postback lab"], dependencies=REQUIRE_API_KEY)

IdPath = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/postback-log/{entry_id}/replay", response_model=ReplayOut)
def replay_postback(
    entry_id: IdPath,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    dry_run: Annotated[bool, Query(description="Only dry runs are supported")] = True,
) -> ReplayOut:
    """Re-run a logged inbound postback against today's configuration; nothing is written."""
    if not dry_run:
        # The log masks the token and drops signature headers, so a committed replay would
        # be an unauthenticated conversion: the network must send the postback again.
        raise BadRequest("only dry runs: ask the network to send the postback again")
    entry = postback_log.get_entry(session, entry_id)
    session.close()  # do not hold a read snapshot open while the dry run takes the write lock
    return service.replay(runtime.db.engine, runtime.settings, entry)


@router.get("/clicks/{clickid}/explain", response_model=ClickExplained)
def explain_click(clickid: IdPath, session: ReadSessionDep, runtime: RuntimeDep) -> ClickExplained:
    """The click, its conversions with their history, every postback naming it, every delivery."""
    return service.explain(session, clickid, runtime.settings.account_currency)
