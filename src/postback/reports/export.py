"""Report rows as CSV or JSON text, produced piece by piece so large exports stream."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson

from postback.reports.service import Report


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """Nested per-event counts become `events.<name>` columns."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dict):
            out.update({f"{name}.{k}": v for k, v in value.items()})
        else:
            out[name] = value
    return out


def csv_chunks(report: Report, chunk_rows: int = 1000) -> Iterator[str]:
    rows = [flat(r) for r in report.rows]
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for i, row in enumerate(rows, start=1):
        writer.writerow(row)
        if i % chunk_rows == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def json_chunks(report: Report, chunk_rows: int = 1000) -> Iterator[bytes]:
    yield b'{"rows":['
    for i in range(0, len(report.rows), chunk_rows):
        part = report.rows[i : i + chunk_rows]
        body = b",".join(orjson.dumps(r) for r in part)
        yield (b"," if i else b"") + body
    yield b'],"totals":' + orjson.dumps(report.totals) + b"}"
