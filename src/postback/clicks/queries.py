"""Read queries for the clicks API (the hot path's SQL stays in repository.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from postback.models import Click


def get_click(session: Session, clickid: str) -> Click | None:
    return session.get(Click, clickid)
