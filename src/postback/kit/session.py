"""The admin API's unit of work, committed before the response is sent.

FastAPI runs the exit code of a `yield` dependency after the response has gone out, unless the
dependency is declared with `scope="function"`. For a unit of work that means a client could
act on a 2xx before the write is committed (and read the old state back), and a failed commit
would follow a success. This alias closes both gaps; it is the same session as kit/deps.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy import event
from sqlalchemy.orm import Session

from postback.kit.deps import RuntimeDep, get_session
from postback.runtime import Runtime

SessionDep = Annotated[Session, Depends(get_session, scope="function")]


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
