"""Inbound postbacks: `GET|POST /postback[/{network_key}]` and the Adsterra-style paths.

Raw ASGI (see kit/asgi.py). The request is parsed here; every rule runs in the group-commit
writer (conversions/service.py), where the conversion, its ledger row, its outbound postback and
the log row are committed together before we answer.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from postback.conversions import redaction, repository, service
from postback.conversions.parsing import CLICKID_NAMES, Refused
from postback.conversions.reasons import Reason
from postback.conversions.records import Outcome, PostbackRequest
from postback.kit.asgi import (
    BodyTooLarge,
    Receive,
    Scope,
    Send,
    client_ip,
    header,
    query_pairs,
    read_body,
    send_json,
    send_response,
    without_nul,
)
from postback.kit.ids import canonical_click_id, looks_like_click_id
from postback.kit.writer import batch_scope
from postback.models import URL_MAX
from postback.runtime import Runtime

log = logging.getLogger("postback.postbacks")

# What a stranger may send, at most (docs/postbacks.md, "Limits"). Text that only the log
# keeps is cut to its column; a value a rule reads is refused with a reason code instead.
MAX_PARAMS = 100
METHOD_MAX = 8  # postback_log.method: any method but GET and POST is refused anyway
NETWORK_KEY_MAX = 32  # networks.key: a longer key cannot name a network
HEADER_MAX = 256  # the signature headers: a SHA-256 hex digest and a Unix time fit easily
_CURRENCY = re.compile(r"[A-Z]{3}")


def is_postback_path(path: str) -> bool:
    return path == "/postback" or path.startswith(("/postback/", "/name/", "/code/"))


def route(path: str) -> tuple[str | None, str | None] | None:
    """(network_key, currency from the path) for a postback path, None if it is not one.

    /postback, /postback/{key}, /name/{key}/at (USD), /code/{CUR}/{key}/at.
    """
    parts = path.strip("/").split("/")
    if parts == ["postback"]:
        return None, None
    if len(parts) == 2 and parts[0] == "postback" and parts[1]:
        return parts[1], None
    if len(parts) == 3 and parts[0] == "name" and parts[2] == "at" and parts[1]:
        return parts[1], "USD"
    if len(parts) == 4 and parts[0] == "code" and parts[3] == "at" and parts[2]:
        return parts[2], parts[1].upper()
    return None


def inbound_request(rt: Runtime, scope: Scope) -> PostbackRequest:
    """What the postback log keeps of a request, before its body is read (the pixel's too)."""
    return PostbackRequest(
        received_at=datetime.now(UTC),
        method=scope["method"],
        path=scope["path"],
        query=scope["query_string"].decode("latin-1"),
        body="",
        source_ip=client_ip(scope, rt.trusted_proxies),
        params={},
        signature=header(scope, b"x-postback-signature"),
        signature_timestamp=header(scope, b"x-postback-timestamp"),
    )


async def handle_postback(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    wants_json = "application/json" in (header(scope, b"accept") or "")
    request = inbound_request(rt, scope)
    bound_request(request)
    refused: Refused | None = None
    try:
        if not rt.postback_limiter.allow(request.source_ip or ""):
            raise Refused(Reason.RATE_LIMITED, "too many postbacks from this address")
        await _parse(rt, scope, receive, request)
    except Refused as exc:
        refused = exc
    # Stamped once the body is in, not when the headers came: a body that trickles in for
    # seconds must not make the conversion older than the moment it could be recorded.
    request.received_at = datetime.now(UTC)
    if refused is not None:
        outcome = await _log_only(rt, request, Outcome(refused.reason, refused.detail))
    else:
        outcome = await _process(rt, request)
    await _respond(send, outcome, wants_json)


async def _parse(rt: Runtime, scope: Scope, receive: Receive, request: PostbackRequest) -> None:
    route_request(request)
    if request.method == "POST":
        try:
            raw = await read_body(receive, rt.settings.max_body_bytes)
        except BodyTooLarge as exc:
            raise Refused(Reason.BODY_TOO_LARGE, "the request body is too large") from exc
        request.body = without_nul(raw.decode("utf-8", "replace"))
    parse_params(request, header(scope, b"content-type") or "")


def bound_request(request: PostbackRequest) -> None:
    """Make what the log keeps of a request storable on both databases: PostgreSQL refuses
    NUL in text (it becomes U+FFFD, as undecodable bytes do), and the method is cut to its
    column. Headers are cut to HEADER_MAX so that no number read from them can overflow."""
    request.method = without_nul(request.method)[:METHOD_MAX]
    request.path = without_nul(request.path)[:URL_MAX]
    request.query = without_nul(request.query)
    if request.signature is not None:
        request.signature = without_nul(request.signature[:HEADER_MAX])
    if request.signature_timestamp is not None:
        request.signature_timestamp = without_nul(request.signature_timestamp[:HEADER_MAX])


# The two pure halves of _parse, shared with the dry-run replay of a logged request (lab/).
def route_request(request: PostbackRequest) -> None:
    """Set the network key and path currency from the path; refuse other paths and methods."""
    routed = route(request.path)
    if routed is None:
        raise Refused(Reason.UNKNOWN_NETWORK, f"{request.path} is not a postback URL")
    key, currency = routed
    if key is not None and len(key) > NETWORK_KEY_MAX:
        raise Refused(Reason.UNKNOWN_NETWORK, "no network has a key that long")
    if currency is not None and not _CURRENCY.fullmatch(currency):
        raise Refused(Reason.INVALID_CURRENCY, f"{currency!r} in the path is not a currency code")
    request.network_key, request.path_currency = key, currency
    if request.method not in ("GET", "POST"):
        raise Refused(Reason.METHOD_NOT_ALLOWED, "use GET or POST")


def parse_params(request: PostbackRequest, content_type: str) -> None:
    """The request's parameters from its query and, for a POST, its body."""
    params = _pairs(request.query)
    if request.method == "POST":
        # Body values win over query values of the same name.
        params.update(_body_params(content_type, request.body))
    request.params = params


def _pairs(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    escaped = "%" in text  # only an escape (%00) can make a NUL: the text has none left
    for name, value in query_pairs(text):
        if len(params) >= MAX_PARAMS:
            break
        if escaped:
            name, value = without_nul(name), without_nul(value)
        params.setdefault(name, value)
    return params


def _body_params(content_type: str, body: str) -> dict[str, str]:
    if not body.strip():
        return {}
    if "json" in content_type or body.lstrip().startswith("{"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Refused(Reason.INVALID_BODY, "the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise Refused(Reason.INVALID_BODY, "the JSON body must be an object")
        return {without_nul(k): _text(v) for k, v in list(data.items())[:MAX_PARAMS]}
    return _pairs(body)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    try:
        # A nested value is kept as its JSON text. orjson reads up to 1024 levels but writes
        # only 254: deeper is refused here, not left to raise.
        return without_nul(orjson.dumps(value).decode())
    except orjson.JSONEncodeError as exc:
        raise Refused(Reason.INVALID_BODY, "a JSON value is nested too deeply") from exc


@dataclass(slots=True)
class PostbackJob:
    """One postback's pipeline run, as a job of the group-commit writer (kit/writer.py).

    The writer calls `prepare_batch` with all the batch's postbacks first: it reads their
    clicks with one query, runs every postback's steps, and inserts all their conversion rows
    with one statement (the unique constraint still decides; a row it skips, because the
    conversion exists or an earlier postback of the batch made it, takes the repeat rules).
    Then each job, in order, settles its postback and writes its log row."""

    rt: Runtime
    request: PostbackRequest
    pending: service.Pending | None = None
    inserted: bool = False

    def __call__(self, conn: Connection) -> Outcome:
        if self.pending is None:  # run without prepare_batch: the whole pipeline at once
            return service.process(conn, self.request, self.rt.networks, self.rt.settings)
        return service.complete(self.pending, self.inserted)

    @staticmethod
    def read_ahead(jobs: list[PostbackJob]) -> None:
        """Run the steps (they only read) on a read connection, before the transaction."""
        with jobs[0].rt.db.reader.connect() as conn, batch_scope(conn):
            PostbackJob._begin(conn, jobs)

    @staticmethod
    def prepare_batch(conn: Connection, jobs: list[PostbackJob]) -> None:
        PostbackJob._begin(conn, [job for job in jobs if job.pending is None])
        for job in jobs:
            assert job.pending is not None
            job.pending.bind(conn)  # the writes go through the writer's connection
            service.claim_signature(job.pending)
        drafts = [job.pending.draft for job in jobs if job.pending and job.pending.draft]
        inserted = repository.insert_conversions(conn, [d.row for d in drafts])
        for job in jobs:
            draft = job.pending.draft if job.pending else None
            job.inserted = draft is not None and draft.row["id"] in inserted

    @staticmethod
    def _begin(conn: Connection, jobs: list[PostbackJob]) -> None:
        if not jobs:
            return
        # The click ID is guessed from the default parameter names; a network with its own
        # alias for it just has its click read by the pipeline step instead.
        guesses = (_clickid_guess(job.request.params) for job in jobs)
        repository.prefetch_clicks(conn, [g for g in guesses if g and looks_like_click_id(g)])
        for job in jobs:
            job.pending = service.begin(conn, job.request, job.rt.networks, job.rt.settings)


def _clickid_guess(params: dict[str, str]) -> str | None:
    for name in CLICKID_NAMES:
        value = params.get(name)
        if value:
            return canonical_click_id(value.strip())
    return None


async def _process(rt: Runtime, request: PostbackRequest) -> Outcome:
    try:
        outcome: Outcome = await rt.writer.run_job(PostbackJob(rt, request))
    except Exception:
        book = redaction.cached_book(rt.networks, request.network_key)
        log.exception(
            "postback failed: %s %s?%s",
            request.method,
            book.redact(request.path),
            book.redact(request.query),
        )
        return await _log_only(rt, request, Outcome(Reason.SERVER_ERROR, "try again later"))
    _log_outcome(rt, request, outcome)
    return outcome


async def _log_only(rt: Runtime, request: PostbackRequest, outcome: Outcome) -> Outcome:
    def job(conn: Connection) -> Outcome:
        service.write_log(conn, request, outcome, None, rt.networks)
        return outcome

    try:
        await rt.writer.run_job(job)
    except Exception:
        log.exception("postback log not written")
    _log_outcome(rt, request, outcome)
    return outcome


def _log_outcome(rt: Runtime, request: PostbackRequest, outcome: Outcome) -> None:
    if outcome.reason.outcome == "refused":
        book = redaction.cached_book(rt.networks, request.network_key)
        log.info(
            "postback refused: %s (%s)",
            outcome.reason.value,
            book.redact(outcome.detail),
            extra={"fields": {"ip": request.source_ip, "path": book.redact(request.path)}},
        )


async def _respond(send: Send, outcome: Outcome, wants_json: bool) -> None:
    reason, status = outcome.reason, outcome.reason.http_status
    if wants_json:
        if status == 200:
            payload = {"result": reason.value, "conversion_id": outcome.conversion_id}
        else:
            payload = {"error": reason.value, "detail": outcome.detail}
        await send_json(send, status, payload)
        return
    if reason is Reason.ACCEPTED:
        text = f"OK accepted {outcome.conversion_id}"
    elif status == 200:
        text = f"OK {reason.value}"
    else:
        text = f"ERROR {reason.value}: {outcome.detail}"
    extra = [(b"retry-after", b"5")] if status in (429, 503) else None
    await send_response(send, status, (text + "\n").encode(), extra_headers=extra)
