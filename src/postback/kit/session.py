"""Sessions for the admin API: the unit of work (kit/deps.py), a read-only session for GET
handlers, and hooks that run once a write has committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy import event
from sqlalchemy.orm import Session

from postback.kit.deps import RuntimeDep, SessionDep
from postback.runtime import Runtime

__all__ = ["ReadSessionDep", "SessionDep", "after_commit", "config_changed"]


def get_read_session(runtime: RuntimeDep) -> Iterator[Session]:
    """For GET handlers: on SQLite a deferred transaction that never takes the write lock, so a
    dashboard polling lists does not queue behind the click writer. Nothing is committed."""
    with Session(runtime.db.reader) as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once this session's transaction commits; never after a rollback."""
    event.listen(session, "after_commit", lambda _session: callback(), once=True)


def config_changed(session: Session, runtime: Runtime) -> None:
    """Drop this process's cached click routes and networks once the write commits.

    Clearing before the commit would let a concurrent click cache the old row again for a
    whole TTL. Other processes pick the change up when their entries expire.
    """

    def clear() -> None:
        runtime.routes.clear()
        runtime.networks.clear()

    after_commit(session, clear)
