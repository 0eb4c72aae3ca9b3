"""The inbound postback pipeline: a list of small named steps.

Each step reads and enriches the context, or refuses the postback by raising `Refused` with a
reason code. The last step records the conversion. Whatever happens, one postback-log row is
written in the same transaction, so the log and the conversions can never disagree.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from postback.config import Settings
from postback.conversions import parsing, redaction, repository, signatures
from postback.conversions.fx import rates
from postback.conversions.parsing import Fields, Refused
from postback.conversions.reasons import Reason
from postback.conversions.recording import Draft, Origin, Recording, make_draft, settle
from postback.conversions.records import ClickRecord, NetworkConfig, Outcome, PostbackRequest
from postback.kit.cache import TTLCache
from postback.kit.ids import looks_like_click_id, new_id

# Trim what we keep of a raw request: enough to debug, not enough to bloat the log table.
LOG_QUERY_MAX = 4096
LOG_BODY_MAX = 8192


@dataclass(slots=True)
class Context:
    conn: Connection
    request: PostbackRequest
    networks: TTLCache[Any, NetworkConfig]
    settings: Settings
    fields: Fields = field(default_factory=Fields)
    network: NetworkConfig | None = None
    authenticated: bool = False
    click: ClickRecord | None = None
    clickid: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    trace: Trace | None = None  # only a dry-run replay (lab/replay.py) passes one
    # (network id, signature, expiry) of a signed postback, claimed in the writer's
    # transaction (`claim_signature`) so that it is single-use.
    signature: tuple[int, str, datetime] | None = None
    # Made up front, so the ledger row can point at the log row written last.
    log_id: str = field(default_factory=new_id)


Step = Callable[[Context], None]
# (step, verdict, detail): "pass" per step that ran through, "skipped" per check not redone.
Trace = list[tuple[str, str, str]]


def read_fields(ctx: Context) -> None:
    aliases = ctx.network.aliases if ctx.network else {}
    ctx.fields = parsing.canonical_fields(ctx.request.params, aliases)
    parsing.reject_placeholders(ctx.fields)


def require_clickid(ctx: Context) -> None:
    ctx.clickid = parsing.require_clickid(ctx.fields)


def network_from_path(ctx: Context) -> None:
    key = ctx.request.network_key
    if key is None:
        return
    network = ctx.networks.get_or_load(
        ("key", key), lambda _k: repository.load_network_by_key(ctx.conn, key)
    )
    if network is None:
        raise Refused(Reason.UNKNOWN_NETWORK, f"no network has the key {key!r}")
    ctx.network = network
    if network.aliases:  # the network's own aliases may name the fields differently
        read_fields(ctx)


def authenticate(ctx: Context) -> None:
    network = ctx.network
    if network is None or ctx.authenticated:
        return
    if network.allowed_ips and not _ip_allowed(ctx.request.source_ip, network):
        raise Refused(
            Reason.IP_NOT_ALLOWED, f"{ctx.request.source_ip} is not in the network's allowlist"
        )
    sent = ctx.fields.get("token") or ""
    if (
        network.secret
        and not _not_rechecked(ctx, "token", sent == "***")
        and not hmac.compare_digest(sent.encode(), network.secret.encode())
    ):
        raise Refused(Reason.BAD_TOKEN, "the security token is missing or wrong")
    if network.signing_secret and not _not_rechecked(ctx, "signature", True):
        signature, expires_at = signatures.verify(
            ctx.request, network.signing_secret, ctx.settings.signature_tolerance
        )
        ctx.signature = (network.id, signature, expires_at)
    ctx.authenticated = True


def _not_rechecked(ctx: Context, check: str, lost: bool) -> bool:
    """In a replay, a check whose input the log does not keep (the token is masked as ***,
    signature headers are not stored) is reported as skipped instead of failing."""
    if ctx.trace is None or not lost:
        return False
    ctx.trace.append((f"authenticate.{check}", "skipped", _NOT_LOGGED[check]))
    return True


_NOT_LOGGED = {
    "token": "the log masks the token as ***, so it is not compared again",
    "signature": "the log does not keep signature headers, so the signature is not verified",
}


def _ip_allowed(ip: str | None, network: NetworkConfig) -> bool:
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in allowed for allowed in network.allowed_ips)


def find_click(ctx: Context) -> None:
    click = (
        repository.load_click(ctx.conn, ctx.clickid) if looks_like_click_id(ctx.clickid) else None
    )
    if click is None:
        raise Refused(Reason.UNKNOWN_CLICK, f"no click has the ID {ctx.clickid!r}")
    ctx.click = click


def network_from_click(ctx: Context) -> None:
    """The network that owns the click's offer is the one that authenticates the postback,
    whatever path it came in on: another network's key never converts the click."""
    assert ctx.click is not None
    network_id = ctx.click.network_id
    if network_id is None:
        raise _no_network()
    if ctx.network is not None:
        if ctx.network.id != network_id:
            raise Refused(
                Reason.WRONG_NETWORK,
                "the click's offer belongs to another network: its postbacks go to that "
                "network's URL, with its token",
            )
        return
    network = ctx.networks.get_or_load(
        ("id", network_id), lambda _k: repository.load_network_by_id(ctx.conn, network_id)
    )
    if network is None:
        raise _no_network()
    ctx.network = network
    if network.aliases:
        read_fields(ctx)


def _no_network() -> Refused:
    return Refused(
        Reason.NO_NETWORK,
        "the click's offer has no network, so nothing can authenticate a postback for it: "
        "give the offer a network, or record the conversion through the conversions API",
    )


def parse_values(ctx: Context) -> None:
    assert ctx.click is not None
    network = ctx.network
    ctx.values = conversion_values(
        ctx.fields,
        ctx.click,
        network.currency if network else None,
        network.status_map if network else {},
        ctx.request.path_currency,
        ctx.settings.account_currency,
    )


def conversion_values(
    f: Fields,
    click: ClickRecord,
    network_currency: str | None,
    status_map: dict[str, str],
    path_currency: str | None,
    account_currency: str,
) -> dict[str, Any]:
    """Payout, sale value, currency, commission, event, status and txid of a conversion, with
    the defaults a postback gets: the sale value as the payout when no payout is sent, the
    offer's payout (in its currency) when neither is; else the currency sent, the path's, the
    network's, then the account's."""
    payout = parsing.parse_payout(f)
    amount = parsing.parse_payout(f, "amount")
    currency = parsing.parse_currency(f, rates.currencies()) if f.get("currency") else None
    sent_currency = None
    if payout is None and amount is not None:
        payout = amount  # PRODUCT 3.2: when no payout is sent, the sale value is also the payout
    if payout is None:
        # The offer's payout is in the offer's currency whatever currency the postback names:
        # relabelling 5 USD as 5 EUR would be wrong. The currency sent is kept in params.
        payout = Decimal(click.offer_payout_micros) / 1_000_000
        sent_currency, currency = currency, click.offer_currency
    currency = currency or path_currency or network_currency
    return {
        "payout": payout,
        "payout_explicit": f.get("payout") is not None or amount is not None,
        "amount": amount,
        "currency": currency or account_currency,
        "sent_currency": sent_currency,
        "commission": commission(f, payout if amount is None else amount),
        "event": parsing.parse_event(f),
        "status": parsing.parse_status(f, status_map),
        "status_explicit": f.get("status") is not None,
        "txid": parsing.parse_txid(f),
    }


def commission(f: Fields, base: Decimal) -> Decimal:
    """`com`, else `comperc` percent of `base` (the sale value when one is sent, else the
    payout: ClickMeter's `comperc` is a percent of `val`), never more than `base` itself."""
    com = parsing.parse_payout(f, "com")
    what = "the sale value" if f.get("amount") else "the payout"
    if com:
        if com > base:
            raise Refused(Reason.INVALID_PAYOUT, f"com {com} is more than {what} {base}")
        return com
    percent = parsing.parse_payout(f, "comperc")
    if percent is not None and percent > 100:
        raise Refused(Reason.INVALID_PAYOUT, f"comperc {percent} is more than 100")
    return (base * percent / 100) if percent else Decimal(0)


def check_window(ctx: Context) -> None:
    assert ctx.click is not None
    check_lookback(ctx.click, ctx.network, ctx.request.received_at, ctx.settings.default_lookback)


def check_lookback(
    click: ClickRecord, network: NetworkConfig | None, at: datetime, default: timedelta
) -> None:
    """Refuse a conversion at `at` for a click older than the network's lookback window (the
    default window when the click has no network)."""
    lookback = network.lookback if network else default
    if at - click.created_at > lookback:
        raise Refused(
            Reason.OUTSIDE_WINDOW,
            f"the click is older than the {lookback.days}-day lookback window",
        )


STEPS: tuple[Step, ...] = (
    read_fields,
    network_from_path,
    authenticate,
    require_clickid,
    find_click,
    network_from_click,
    authenticate,
    parse_values,
    check_window,
)


def recording(ctx: Context, origin: str = "postback") -> Recording:
    """What the pipeline learnt, as the conversion to record (the pixel's too, conversions/
    pixel.py, with its own origin)."""
    assert ctx.click is not None
    return Recording(
        conn=ctx.conn,
        click=ctx.click,
        network=ctx.network,
        values=ctx.values,
        params=ctx.fields.params,
        account_currency=ctx.settings.account_currency,
        at=ctx.request.received_at,
        origin=Origin(origin, postback_id=ctx.log_id),
        is_test=ctx.click.is_test,
        max_rate_age=ctx.settings.fx_max_rate_age,
    )


def process(
    conn: Connection,
    request: PostbackRequest,
    networks: TTLCache[Any, NetworkConfig],
    settings: Settings,
    trace: Trace | None = None,
) -> Outcome:
    """Run the pipeline and write its log row, in the caller's transaction."""
    pending = begin(conn, request, networks, settings, trace)
    claim_signature(pending)
    draft = pending.draft
    inserted = draft is not None and repository.insert_conversion(conn, draft.row)
    return complete(pending, inserted)


@dataclass(slots=True)
class Pending:
    """A postback whose steps have run: refused, or with its conversion row drafted."""

    ctx: Context
    draft: Draft | None = None
    refused: Refused | None = None

    def bind(self, conn: Connection) -> None:
        """Make the rest of this postback's work use `conn` (its steps may have read through
        another connection)."""
        self.ctx.conn = conn
        if self.draft is not None:
            self.draft.rec.conn = conn


def begin(
    conn: Connection,
    request: PostbackRequest,
    networks: TTLCache[Any, NetworkConfig],
    settings: Settings,
    trace: Trace | None = None,
) -> Pending:
    """The steps and the conversion row drafted: the first half of `process`, and what a
    batch of postbacks runs before inserting all their rows together (receiver.py
    PostbackJob); `complete` is the second half."""
    ctx = Context(conn, request, networks, settings, trace=trace)
    try:
        for step in STEPS:
            step(ctx)
            if trace is not None:
                trace.append((step.__name__, "pass", ""))
        return Pending(ctx, draft=make_draft(recording(ctx)))
    except Refused as refused:
        return Pending(ctx, refused=refused)


def claim_signature(pending: Pending) -> None:
    """Make a signed postback's signature single-use: remember it in the writer's transaction,
    with the postback's effects (a postback that fails for a server fault can be sent again),
    and refuse the postback if the signature was used before. Call it before the conversion
    row is inserted."""
    ctx = pending.ctx
    if ctx.signature is None or pending.draft is None:
        return
    if not signatures.claim(ctx.conn, ctx.signature, ctx.settings.signature_tolerance):
        pending.draft = None
        pending.refused = Refused(
            Reason.REPLAYED_SIGNATURE,
            "this signature was already used: a signed postback counts once; sign a new "
            "request (a new timestamp) to send it again",
        )


def complete(pending: Pending, inserted: bool) -> Outcome:
    """Settle a begun postback once its row was (or, as a repeat, was not) inserted, and
    write its log row."""
    ctx = pending.ctx
    try:
        if pending.refused is not None:
            raise pending.refused
        assert pending.draft is not None
        outcome = settle(pending.draft, inserted)
    except Refused as refused:
        outcome = Outcome(refused.reason, refused.detail)
    outcome.parsed = _parsed(ctx)
    outcome.log_id = ctx.log_id
    write_log(ctx.conn, ctx.request, outcome, ctx)
    return outcome


def _parsed(ctx: Context) -> dict[str, Any]:
    parsed: dict[str, Any] = dict(ctx.fields.values)
    parsed.pop("token", None)  # never keep a secret in the log
    if ctx.fields.params:
        parsed["params"] = ctx.fields.params
    return parsed


def write_log(
    conn: Connection,
    request: PostbackRequest,
    outcome: Outcome,
    ctx: Context | None,
    networks: TTLCache[Any, Any] | None = None,
) -> None:
    outcome.log_id = outcome.log_id or new_id()
    # Redacted here, whatever step refused the request: nothing unredacted is ever stored.
    book = _secret_book(conn, outcome, ctx, networks)
    repository.insert_log(
        conn,
        {
            "id": outcome.log_id,
            "received_at": request.received_at,
            "source_ip": request.source_ip,
            "method": request.method,
            "path": book.redact(request.path)[:2048],
            "query": book.redact(request.query)[:LOG_QUERY_MAX],
            "body": book.redact(request.body)[:LOG_BODY_MAX],
            "parsed": book.redact_value("", outcome.parsed) if outcome.parsed else outcome.parsed,
            "network_id": ctx.network.id if ctx and ctx.network else None,
            "click_id": (ctx.clickid[:255] or None) if ctx else None,
            "outcome": outcome.reason.outcome,
            "reason": str(outcome.reason),  # a plain str binds without adaptation
            "http_status": outcome.reason.http_status,
            "conversion_id": outcome.conversion_id,
        },
    )


def _secret_book(
    conn: Connection, outcome: Outcome, ctx: Context | None, networks: TTLCache[Any, Any] | None
) -> redaction.SecretBook:
    """An accepted postback was authenticated by its network: its secrets and aliases are the
    ones it may carry (no query on the hot path). Any other may be meant for any network."""
    if ctx is not None and outcome.reason.http_status == 200:
        return redaction.book_of_network(ctx.network)
    return redaction.all_networks_book(conn, networks or (ctx.networks if ctx else None))
