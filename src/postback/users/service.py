"""Users and sign-in: argon2id password hashes, and sessions kept in the database.

A session is a 256-bit random token in an HttpOnly cookie; the database holds only its SHA-256,
so a copy of the table signs nobody in. Each session carries its own CSRF token, which every
dashboard form echoes back.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postback.kit.errors import Conflict
from postback.models import utcnow
from postback.users import repository
from postback.users.schemas import UserCreate, normalize_email
from postback.users.tables import Role, User, UserSession

# argon2-cffi's defaults (RFC 9106 "low memory" profile: argon2id, t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
# last_seen_at is written at most this often, not on every page view.
TOUCH_EVERY = timedelta(minutes=1)
DEMO_EMAIL = "demo@example.com"


@dataclass(frozen=True)
class SignedIn:
    """The user behind a request, with the session's CSRF token for its forms."""

    user_id: int
    email: str
    role: str
    csrf_token: str
    session_id: int

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- users ---------------------------------------------------------------------------------


def create_user(session: Session, data: UserCreate) -> User:
    # Hashed before the first query: on SQLite that query opens the write transaction, and
    # argon2's tenth of a second must not be spent holding it.
    password_hash = hash_password(data.password)
    if repository.get_by_email(session, data.email) is not None:
        raise Conflict(f"a user with the email {data.email} already exists")
    user = User(email=data.email, password_hash=password_hash, role=data.role)
    try:
        with session.begin_nested():
            repository.add(session, user)
    except IntegrityError:  # created by someone else since the check above
        raise Conflict(f"a user with the email {data.email} already exists") from None
    return user


def list_users(session: Session) -> Sequence[User]:
    return repository.list_all(session)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The enabled user with this email and password, or None (same cost either way).
    The sign-in page does not use this: it checks the password with no transaction open
    (see `find_candidate`)."""
    candidate = find_candidate(session, email)
    ok, new_hash = check_password(candidate, password)
    if not ok or candidate.user_id is None:
        return None
    user = repository.get(session, candidate.user_id)
    if user is not None and new_hash is not None:
        user.password_hash = new_hash
    return user


# --- signing in off the write lock ---------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """What a sign-in checks the password against, read before the check: a plain value, so
    no session (and, on SQLite, no write lock) is held while argon2 runs."""

    user_id: int | None
    password_hash: str
    disabled: bool = False


NOBODY = Candidate(None, _DUMMY_HASH)


def find_candidate(session: Session, email: str) -> Candidate:
    user = repository.get_by_email(session, normalize_email(email))
    if user is None:
        return NOBODY
    return Candidate(user.id, user.password_hash, user.disabled)


def check_password(candidate: Candidate, password: str) -> tuple[bool, str | None]:
    """(whether it signs in, a new hash when the stored one uses older parameters). An unknown
    email is checked against a dummy hash, so it costs what a wrong password costs."""
    try:
        _hasher.verify(candidate.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if candidate.user_id is None or candidate.disabled:
        return False, None
    if _hasher.check_needs_rehash(candidate.password_hash):
        return True, hash_password(password)
    return True, None


@dataclass(frozen=True)
class Throttle:
    """Failed sign-ins per (IP, email), counted in the database so every server process
    shares the count. A limit of 0 turns it off."""

    key: str
    limit: int
    window: timedelta

    @classmethod
    def of(cls, ip: str | None, email: str, limit: int, window: timedelta) -> Throttle:
        key = hashlib.sha256(f"{ip or '-'}|{normalize_email(email)}".encode()).hexdigest()
        return cls(key, limit, window)

    def blocked(self, session: Session) -> bool:
        """Whether the failures allowed are used up (a read: no write lock)."""
        if self.limit <= 0:
            return False
        return repository.failures(session, self.key, utcnow() - self.window) >= self.limit

    def fail(self, session: Session) -> bool:
        """Count a failed sign-in; True when it is over the limit (answer 429, not 401). One
        atomic upsert, so concurrent failures are each counted once."""
        if self.limit <= 0:
            return False
        now = utcnow()
        return repository.count_failure(session, self.key, now, now - self.window) > self.limit

    def reset(self, session: Session) -> None:
        repository.forget_failures(session, self.key, utcnow() - self.window)


def complete_sign_in(
    session: Session,
    candidate: Candidate,
    new_hash: str | None,
    throttle: Throttle,
    lifetime: timedelta,
) -> str | None:
    """The short write after a matching password: the session row, the throttle reset, a
    rehash. None (and nothing written) when failures counted meanwhile have used up the
    limit: a guess that was right is not let in past the throttle."""
    assert candidate.user_id is not None
    if throttle.blocked(session):
        return None
    user = repository.get(session, candidate.user_id)
    if user is None or user.disabled:
        return None
    if new_hash is not None:
        user.password_hash = new_hash
    throttle.reset(session)
    return start_session(session, user, lifetime)


def ensure_demo_admin(session: Session) -> tuple[str, str] | None:
    """For `postback serve --demo`: (email, password) of a demo admin with a new password.

    Created when there are no users at all; its password is replaced on every demo run so the
    one printed always works. None when real users exist and no demo user does.
    """
    user = repository.get_by_email(session, DEMO_EMAIL)
    if user is None and repository.count(session) > 0:
        return None
    password = secrets.token_urlsafe(12)
    if user is None:
        create_user(session, UserCreate(email=DEMO_EMAIL, password=password, role=Role.ADMIN))
    else:
        user.password_hash = hash_password(password)  # demo start-up only, nothing waits
        user.role, user.disabled = Role.ADMIN, False
        session.flush()
    return DEMO_EMAIL, password


# --- sessions ------------------------------------------------------------------------------


def start_session(session: Session, user: User, lifetime: timedelta) -> str:
    """Open a session for `user`; returns the token for the cookie (not stored anywhere)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        token_hash=hash_token(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
        last_seen_at=now,
    )
    repository.add(session, row)
    return token


def resolve_session(session: Session, token: str) -> tuple[SignedIn, bool] | None:
    """Who holds this token, and whether last_seen_at is due for an update; None if the
    session is unknown, revoked, expired or its user is disabled."""
    found = repository.find_session(session, hash_token(token))
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if row.revoked_at is not None or row.expires_at <= now or user.disabled:
        return None
    signed_in = SignedIn(user.id, user.email, user.role, row.csrf_token, row.id)
    return signed_in, now - row.last_seen_at >= TOUCH_EVERY


def touch_session(session: Session, session_id: int) -> None:
    repository.touch_session(session, session_id, utcnow())


def end_session(session: Session, token: str) -> None:
    repository.revoke_session(session, hash_token(token), utcnow())


def end_sessions_of(session: Session, user_id: int) -> None:
    repository.revoke_sessions_of(session, user_id, utcnow())


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())
