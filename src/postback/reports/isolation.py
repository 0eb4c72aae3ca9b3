"""A fold slice that fails: fold it piece by piece and skip the rows that fail alone (ADR 0015).

The aggregator folds a slice in one go (`aggregator.fold`). When that raises an error that may
be a row's fault, it folds the same slice again here, in the same transaction a fold has: the
slice's rows are read once and folded in halves, each in a savepoint, halving again where a
piece fails, so every good row is folded and each row that fails alone is named in
report_skipped_rows and left out; the watermark then moves past the slice as usual. Clicks keep
their order (a visitor's first click is its unique one) and the visitors `seen` are put back
when a piece fails, so the rows folded count exactly as one fold of the slice without the
skipped rows would.

Errors that are the database's passing trouble (an outage, a lock or statement timeout, a
serialization failure) or a fault of the code or schema (an unknown column) are not isolated:
the slice is folded again later, as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from postback.reports import queries, skipped
from postback.reports.aggregator import Visitor, _count_earlier_days, collector_paused, fold_rows
from postback.reports.periods import PER_DAY, q_of

log = logging.getLogger("postback.reports")

# PostgreSQL error classes a row's value can cause: data exception, integrity constraint
# violation, program limit exceeded. Every other class is the database's or the code's.
ROW_CLASSES = frozenset({"22", "23", "54"})
LOGGED = 10  # skipped rows logged one by one per slice; more get one line


def is_row_error(exc: BaseException) -> bool:
    """Whether a fold's error may be the fault of a row it read (then the slice is folded piece
    by piece) rather than of the database or the code (then it is tried again as it is)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return not exc.connection_invalidated and exc.orig is not None and is_row_error(exc.orig)
    names = {kind.__name__ for kind in type(exc).__mro__}
    if "Error" in names and names & {"DatabaseError", "InterfaceError"}:  # a PEP 249 driver's
        state = getattr(exc, "sqlstate", None)
        if isinstance(state, str):  # PostgreSQL
            return state[:2] in ROW_CLASSES
        # SQLite: "database is locked" and "no such column" are OperationalErrors.
        return bool(names & {"DataError", "IntegrityError"})
    if isinstance(exc, sa_exc.StatementError):  # a value SQLAlchemy could not bind
        return exc.orig is not None and is_row_error(exc.orig)
    if isinstance(exc, sa_exc.SQLAlchemyError):  # pool timeout, disconnection
        return False
    # The fold's own code refusing a value (ValueError, TypeError, OverflowError, ...).
    return isinstance(exc, Exception) and not isinstance(exc, (OSError, MemoryError))


def error_text(exc: BaseException) -> str:
    """One storable line: the driver's message, not SQLAlchemy's (which carries the statement
    and its parameters)."""
    base = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(base).splitlines() if line.strip()]
    text = f"{type(base).__name__}: {lines[0]}" if lines else type(base).__name__
    text = text[: skipped.ERROR_MAX].replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


@dataclass(slots=True)
class Unit:
    kind: str  # "click" or "ledger"
    ident: str
    row: Any = None  # a click as queries.fold_click_rows reads it; a ledger row is read by id


@dataclass
class Outcome:
    count: int = 0  # clicks and conversions folded, as fold() counts them
    folded: list[Unit] = field(default_factory=list)
    skipped: list[Unit] = field(default_factory=list)


def fold_slice(
    conn: Connection,
    since: datetime,
    until: datetime,
    seen: set[Visitor],
    late: tuple[Sequence[str], Sequence[int]],
    failed: bool = True,
) -> Outcome:
    """Fold what `aggregator.fold(conn, since, until, seen, late)` folds, piece by piece.
    `failed`: the whole slice failed already, so start with its halves."""
    late_clicks = queries.fold_late_click_rows(conn, late[0], since) if late[0] else []
    _count_earlier_days(conn, late_clicks, q_of(since) // PER_DAY, seen)
    clicks = [*late_clicks, *queries.fold_click_rows(conn, since, until)]
    ledger = skipped.ledger_ids(conn, late[1], since, since, until)
    units = [Unit("click", row[0], row) for row in clicks]
    units += [Unit("ledger", str(i)) for i in ledger]
    pieces = _Pieces(conn, seen, until)
    pieces.fold(units, split=failed)
    left_out = len(pieces.outcome.skipped)
    if left_out > LOGGED:
        log.warning(
            "report fold: %d more rows of this slice left out of reports", left_out - LOGGED
        )
    return pieces.outcome


def refold(
    snapshot: Callable[[], AbstractContextManager[Connection]], rows: int
) -> tuple[int, int]:
    """Fold the rows named in report_skipped_rows again, each once (after their fault is
    fixed), as late rows of the watermark: those that fold leave the table, the others count
    one more attempt; rows that no longer exist are forgotten. `snapshot`: the aggregator's
    fold transaction; `rows`: how many of each kind one transaction takes. Returns (rows
    folded, rows still failing)."""
    folded = failing = 0
    after = {"click": "", "ledger": ""}
    while True:
        with snapshot() as conn:
            mark = queries.read_watermark(conn, lock=True)
            wanted = {kind: skipped.ids(conn, kind, after[kind], rows) for kind in after}
            if mark is None or not any(wanted.values()):
                return folded, failing
            seen = queries.visitors_of_day(conn, q_of(mark) // PER_DAY)
            late = (wanted["click"], [int(i) for i in wanted["ledger"]])
            with collector_paused():
                outcome = fold_slice(conn, mark, mark, seen, late, failed=False)
            still = {(u.kind, u.ident) for u in outcome.skipped}
            for kind, ids in wanted.items():
                skipped.forget(conn, kind, [i for i in ids if (kind, i) not in still])
                after[kind] = ids[-1] if ids else after[kind]
        folded += len(outcome.folded)
        failing += len(outcome.skipped)


class _Pieces:
    def __init__(self, conn: Connection, seen: set[Visitor], until: datetime) -> None:
        self.conn = conn
        self.seen = seen
        self.until = until
        self.now = datetime.now(UTC)
        self.outcome = Outcome()

    def fold(self, units: list[Unit], split: bool) -> None:
        """Fold `units` in pieces, left to right, halving each piece that fails."""
        pending = [units] if not split or len(units) < 2 else _halves(units)
        while pending:
            piece = pending.pop()
            error = self._try(piece)
            if error is None:
                continue
            if len(piece) == 1:
                self._skip(piece[0], error)
            else:
                pending.extend(_halves(piece))

    def _try(self, piece: list[Unit]) -> BaseException | None:
        clicks = [u.row for u in piece if u.kind == "click"]
        ledger_ids = [int(u.ident) for u in piece if u.kind == "ledger"]
        saved = set(self.seen) if clicks else None
        try:
            with self.conn.begin_nested():
                ledger = queries.fetch_late_ledger(self.conn, ledger_ids, self.until)
                count = fold_rows(self.conn, clicks, ledger, self.seen, self.until)
        except Exception as exc:
            if not is_row_error(exc):
                raise
            if saved is not None:
                self.seen.clear()
                self.seen.update(saved)
            return exc
        self.outcome.count += count
        self.outcome.folded.extend(piece)
        return None

    def _skip(self, unit: Unit, exc: BaseException) -> None:
        text = error_text(exc)
        skipped.record(self.conn, unit.kind, unit.ident, text, self.now)
        self.outcome.skipped.append(unit)
        if len(self.outcome.skipped) > LOGGED:
            return
        log.warning(
            "report fold: %s %s cannot be folded and is left out of reports (%s); "
            "`postback reports skipped` lists such rows, `postback reports refold` retries them",
            unit.kind,
            unit.ident,
            text,
        )


def _halves(units: list[Unit]) -> list[list[Unit]]:
    """The two halves, the right one first: `pending` is a stack, so the left is folded first."""
    mid = len(units) // 2
    return [units[mid:], units[:mid]]
