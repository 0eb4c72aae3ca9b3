"""Landers: pages shown before the offer; the click ID travels through them to the offer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from postback.kit import linter
from postback.kit.errors import NotFound
from postback.landers import repository
from postback.landers.schemas import LanderCreate, LanderUpdate
from postback.models import Lander


def create(session: Session, body: LanderCreate) -> Lander:
    linter.enforce("url", linter.lint_url(body.url, "lander"))
    return repository.add(session, Lander(name=body.name, url=body.url))


def get(session: Session, lander_id: int) -> Lander:
    lander = repository.get(session, lander_id)
    if lander is None:
        raise NotFound(f"lander {lander_id} does not exist")
    return lander


def list_landers(
    session: Session, after: int | None, limit: int, include_archived: bool
) -> Sequence[Lander]:
    return repository.list_after(session, after, limit, include_archived=include_archived)


def update(session: Session, lander_id: int, body: LanderUpdate) -> Lander:
    lander = get(session, lander_id)
    changes: dict[str, Any] = body.changes()
    if "url" in changes:
        linter.enforce("url", linter.lint_url(changes["url"], "lander"))
    for name, value in changes.items():
        setattr(lander, name, value)
    session.flush()
    return lander


def archive(session: Session, lander_id: int) -> Lander:
    return update(session, lander_id, LanderUpdate(archived=True))


def url_warnings(lander: Lander) -> list[linter.UrlWarning]:
    return linter.warnings_of("url", linter.lint_url(lander.url, "lander"))
