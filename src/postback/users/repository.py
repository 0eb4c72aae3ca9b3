"""SQL for users and their sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from postback.users.tables import LoginFailure, User, UserSession


def get(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).one_or_none()


def list_all(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.id)).all()


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def add(session: Session, row: User | UserSession) -> None:
    session.add(row)
    session.flush()


def find_session(session: Session, token_hash: str) -> tuple[UserSession, User] | None:
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == token_hash)
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def touch_session(session: Session, session_id: int, at: datetime) -> None:
    session.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=at))


def revoke_session(session: Session, token_hash: str, at: datetime) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == token_hash, UserSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def revoke_sessions_of(session: Session, user_id: int, at: datetime) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )


# --- the sign-in throttle ------------------------------------------------------------------


def count_failure(session: Session, key_hash: str, now: datetime, window_start: datetime) -> int:
    """Add one failure for `key_hash` and return the count in the current window, in one
    atomic statement (a window that began before `window_start` starts over at 1)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(LoginFailure).values(key_hash=key_hash, failures=1, window_started_at=now)
    stale = LoginFailure.window_started_at < window_start
    upsert = stmt.on_conflict_do_update(
        index_elements=["key_hash"],
        set_={
            "failures": case((stale, 1), else_=LoginFailure.failures + 1),
            "window_started_at": case((stale, now), else_=LoginFailure.window_started_at),
        },
    )
    return int(session.execute(upsert.returning(LoginFailure.failures)).scalar_one())


def failures(session: Session, key_hash: str, window_start: datetime) -> int:
    found = session.scalar(
        select(LoginFailure.failures).where(
            LoginFailure.key_hash == key_hash, LoginFailure.window_started_at >= window_start
        )
    )
    return int(found or 0)


def forget_failures(session: Session, key_hash: str, window_start: datetime) -> None:
    """Drop this key's count and every count whose window is over."""
    session.execute(
        delete(LoginFailure).where(
            (LoginFailure.key_hash == key_hash) | (LoginFailure.window_started_at < window_start)
        )
    )
