"""What every admin-API repository does the same way: add a row, read one keyset page."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from postback.models import Base

M = TypeVar("M", bound=Base)


def add(session: Session, row: M) -> M:
    """Add and flush, so the row has its id; the request commits (services never do)."""
    session.add(row)
    session.flush()
    return row


def page(model: type[M], after: int | None, limit: int) -> Select[Any]:
    """Rows by id after the cursor: the list query each repository narrows with its filters."""
    id_column: Any = model.id  # type: ignore[attr-defined]
    query = select(model).order_by(id_column).limit(limit)
    return query if after is None else query.where(id_column > after)
