"""FastAPI dependencies shared by the admin API: the runtime, a unit-of-work session, auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from postback.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """The request owns the transaction: commit when the handler returns, roll back on error."""
    with runtime.db.session() as session:
        yield session


# scope="function": the commit runs before the response is sent, not after (FastAPI's default),
# so a client never acts on a 2xx for a write that then fails to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
