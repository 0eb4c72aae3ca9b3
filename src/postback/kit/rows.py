"""Hot-path SQL sent straight through the database driver.

SQLAlchemy Core costs more than the database work on the two paths that carry traffic: per
statement it builds an execution context and a result (column metadata for every column of
every row read), and per row it runs each column's bind processor. The click writer and the
postback pipeline run a few fixed statements over and over, so for those we encode the values
ourselves, once, into the form each database stores, and use the driver's cursor:

- SQLite keeps datetimes as SQLAlchemy's DATETIME text (UTC, microseconds always written, so
  text order is time order and SQLAlchemy reads them back), JSON as text, booleans as 0/1.
- PostgreSQL (psycopg) takes aware datetimes and booleans as they are; JSON goes as text with
  a `::json` cast.

The statements still run inside the caller's SQLAlchemy transaction: the cursor belongs to the
same DBAPI connection.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Connection, DateTime, Table

_CURSOR = "postback.driver_cursor"


def driver_cursor(conn: Connection) -> Any:
    """The DBAPI cursor of `conn`, made once per database connection and then reused."""
    cursor = conn.info.get(_CURSOR)
    if cursor is None:
        cursor = conn.info[_CURSOR] = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    return cursor


# Datetimes encoded lately, by object identity: a postback stamps its conversion, ledger and
# log rows with the same received_at, and a batch encodes its rows table by table, so the same
# few objects come back in turns. Kept by id() with the object itself, so that a recycled id
# can never match; cleared when full.
_recent_times: dict[int, tuple[datetime, str]] = {}
_RECENT_TIMES_MAX = 2048


def sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite DATETIME text, in UTC: '2026-11-23 00:31:02.123456'."""
    known = _recent_times.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    if value.tzinfo is UTC:
        text = f"{_second_text(value)}.{value.microsecond:06d}"
    else:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value
        text = utc.replace(tzinfo=None).isoformat(" ", "microseconds")
    if len(_recent_times) >= _RECENT_TIMES_MAX:
        _recent_times.clear()
    _recent_times[id(value)] = (value, text)
    return text


# The texts of whole UTC seconds encoded lately: isoformat() cost more than a click's insert,
# and the rows of one second share everything but their microseconds.
_second_texts: dict[int, str] = {}


def _second_text(value: datetime) -> str:
    second = round(value.timestamp() - value.microsecond / 1_000_000)
    text = _second_texts.get(second)
    if text is None:
        if len(_second_texts) >= _RECENT_TIMES_MAX:
            _second_texts.clear()
        text = _second_texts[second] = value.replace(microsecond=0, tzinfo=None).isoformat(" ")
    return text


def from_sqlite_time(text: str) -> datetime:
    """SQLAlchemy's SQLite DATETIME text (UTC) as an aware datetime. The text is remembered
    for `sqlite_time`, so a time read and written back (a conversion's click_at) is not
    formatted again."""
    value = datetime.fromisoformat(text).replace(tzinfo=UTC)
    if len(text) == 26 and text[10] == " ":  # the form sqlite_time writes, microseconds and all
        if len(_recent_times) >= _RECENT_TIMES_MAX:
            _recent_times.clear()
        _recent_times[id(value)] = (value, text)
    return value


class DriverInsert:
    """`INSERT INTO table (columns) VALUES (...) [suffix]` with the values encoded here.

    Called with a connection and a list of rows (mappings by column name), it inserts them
    all with one executemany: that is the signature the group-commit writer takes for its
    click rows and for the rows jobs defer with `insert_later` (kit/writer.py).
    """

    def __init__(self, table: Table, columns: Sequence[str], suffix: str = "") -> None:
        self.columns = tuple(columns)
        kinds = {c: _kind(table, c) for c in self.columns}
        self._times = [i for i, c in enumerate(self.columns) if kinds[c] == "time"]
        self._json = [i for i, c in enumerate(self.columns) if kinds[c] == "json"]
        self._bools = [i for i, c in enumerate(self.columns) if kinds[c] == "bool"]
        names = ", ".join(f'"{c}"' for c in self.columns)
        marks = {
            "sqlite": ", ".join("?" for _ in self.columns),
            "postgresql": ", ".join(
                "%s::json" if kinds[c] == "json" else "%s" for c in self.columns
            ),
        }
        pick = operator.itemgetter(*self.columns)
        self._pick = pick if len(self.columns) > 1 else (lambda row: (pick(row),))
        self._max_rows = 0
        self._multi: dict[tuple[str, int], str] = {}
        self.sql = {
            dialect: f"INSERT INTO {table.name} ({names}) VALUES ({m}) {suffix}".rstrip()
            for dialect, m in marks.items()
        }

    def __call__(self, conn: Connection, rows: list[Mapping[str, Any]]) -> None:
        if conn.dialect.name != "sqlite" or len(rows) == 1:
            sqlite_ = conn.dialect.name == "sqlite"
            params = [self.encode(row, sqlite_) for row in rows]
            driver_cursor(conn).executemany(self.sql[conn.dialect.name], params)
            return
        # One multi-row INSERT rather than an executemany: one statement step for the batch
        # instead of one per row (and the sqlite3 module lets go of the interpreter lock
        # around every step).
        cursor = driver_cursor(conn)
        for sql, flat in self._multi_row_statements(conn, rows):
            cursor.execute(sql, flat)

    def insert_returning(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]], column: str
    ) -> list[Any]:
        """Insert `rows` with multi-row INSERTs and return `column` of the rows inserted (with
        ON CONFLICT ... DO NOTHING in the suffix, those not skipped)."""
        cursor = driver_cursor(conn)
        found: list[Any] = []
        for sql, flat in self._multi_row_statements(conn, rows):
            cursor.execute(f"{sql} RETURNING {column}", flat)
            found.extend(cursor.fetchall())
        return found

    def _multi_row_statements(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> Iterator[tuple[str, list[Any]]]:
        """(SQL, flat parameters) of as few multi-row INSERTs as the driver's limit allows."""
        dialect = conn.dialect.name
        sqlite_ = dialect == "sqlite"
        step = self._rows_per_statement(conn) if sqlite_ else 65535 // len(self.columns)
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            flat: list[Any] = []
            for row in chunk:
                flat.extend(self.encode(row, sqlite_))
            yield self._multi_row_sql(len(chunk), dialect), flat

    def _rows_per_statement(self, conn: Connection) -> int:
        if not self._max_rows:
            # SQLite binds at most this many parameters per statement (32766 since 3.32).
            limit = conn.connection.driver_connection.getlimit(  # type: ignore[union-attr]
                sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
            )
            self._max_rows = max(1, limit // len(self.columns))
        return self._max_rows

    def _multi_row_sql(self, count: int, dialect: str = "sqlite") -> str:
        sql = self._multi.get((dialect, count))
        if sql is None:
            head, _, tail = self.sql[dialect].partition(" VALUES ")
            one = tail[: tail.index(")") + 1]  # "(?, ?, ...)" or "(%s, %s::json, ...)"
            suffix = tail[len(one) :]
            sql = f"{head} VALUES {', '.join([one] * count)}{suffix}"
            self._multi[(dialect, count)] = sql
        return sql

    def execute(self, conn: Connection, row: Mapping[str, Any]) -> int:
        """Insert one row at once; the number of rows inserted (0 when ON CONFLICT skipped it)."""
        cursor = driver_cursor(conn)
        cursor.execute(self.sql[conn.dialect.name], self.encode(row, conn.dialect.name == "sqlite"))
        return int(cursor.rowcount)

    def encode(self, row: Mapping[str, Any], sqlite_: bool) -> list[Any]:
        try:  # the hot paths' rows carry every column: one C call picks them all
            values: list[Any] = list(self._pick(row))
        except KeyError:  # a column left out is NULL
            values = [row.get(c) for c in self.columns]
        for i in self._json:
            values[i] = orjson.dumps(values[i]).decode()  # None is JSON null, as in SQLAlchemy
        if sqlite_:
            for i in self._times:
                if values[i] is not None:
                    values[i] = sqlite_time(values[i])
            for i in self._bools:
                if values[i] is not None:
                    values[i] = int(values[i])
        return values


def _kind(table: Table, column: str) -> str | None:
    kind = table.c[column].type
    kind = getattr(kind, "impl", kind)  # a TypeDecorator (UtcDateTime) stores as its impl
    if isinstance(kind, DateTime):
        return "time"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Boolean):
        return "bool"
    return None
