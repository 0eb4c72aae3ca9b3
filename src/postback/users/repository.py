"""SQL for users and their sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from postback.users.tables import User, UserSession


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
