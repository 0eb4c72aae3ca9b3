"""Keyset pagination for the admin API: `{"items": [...], "next": <cursor or null>}`.

A cursor is opaque to clients: today it is the id of the last item returned. Repositories read
`limit + 1` rows; the extra row only tells whether another page exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel

from postback.kit.fields import MAX_ROW_ID, field_error, is_digits
from postback.kit.ids import looks_like_click_id

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

IdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
CursorQuery = Annotated[
    str | None, Query(max_length=64, description="The `next` value of the previous page")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None


def page_of(
    rows: Sequence[R], limit: int, convert: Callable[[R], T], cursor_of: Callable[[R], object]
) -> Page[T]:
    shown = rows[:limit]
    more = len(rows) > limit and bool(shown)
    return Page[T](
        items=[convert(row) for row in shown], next=str(cursor_of(shown[-1])) if more else None
    )


def int_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not is_digits(cursor) or int(cursor) > MAX_ROW_ID:
        raise field_error("cursor", "not a cursor this list returned")
    return int(cursor)


def ulid_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    if not looks_like_click_id(cursor):
        raise field_error("cursor", "not a cursor this list returned")
    return cursor.upper()
