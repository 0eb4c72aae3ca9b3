"""API keys: `pb_` + 32 random URL-safe characters, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence

from sqlalchemy.orm import Session

from postback.api_keys import repository
from postback.kit.errors import NotFound
from postback.models import ApiKey, utcnow
from postback.runtime import Runtime

log = logging.getLogger("postback.api_keys")

KEY_PREFIX = "pb_"
# Enough of the key to tell keys apart in a list, far too little to guess the rest.
DISPLAY_PREFIX_LENGTH = 8
ADMIN_KEY_NAME = "admin (POSTBACK_ADMIN_API_KEY)"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)  # 24 random bytes = 32 characters


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def display_prefix(plaintext: str) -> str:
    # A quarter at most, for admin keys the operator chose that may be short.
    return plaintext[: min(DISPLAY_PREFIX_LENGTH, len(plaintext) // 4)]


def create_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """A new key and its plaintext; the plaintext is not stored and cannot be shown again."""
    plaintext = generate_key()
    key = ApiKey(name=name, prefix=display_prefix(plaintext), key_hash=hash_key(plaintext))
    return repository.add(session, key), plaintext


def list_keys(session: Session, after: int | None, limit: int) -> Sequence[ApiKey]:
    return repository.list_after(session, after, limit)


def get_key(session: Session, key_id: int) -> ApiKey:
    key = repository.get(session, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist")
    return key


def revoke_key(session: Session, key_id: int) -> ApiKey:
    """Revoke a key; revoking it again keeps the first revocation time."""
    key = get_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


def ensure_key(session: Session, name: str, plaintext: str) -> ApiKey:
    """The key with this plaintext, created if missing. A revoked key stays revoked."""
    digest = hash_key(plaintext)
    repository.insert_ignore(session, name=name, prefix=display_prefix(plaintext), key_hash=digest)
    key = repository.get_by_hash(session, digest)
    assert key is not None
    return key


def bootstrap_admin_key(runtime: Runtime | None) -> None:
    """Make POSTBACK_ADMIN_API_KEY a working key. Its own unit of work: it runs at startup."""
    plaintext = runtime.settings.admin_api_key if runtime is not None else None
    if runtime is None or not plaintext:
        return
    with runtime.db.session() as session:
        key = ensure_key(session, ADMIN_KEY_NAME, plaintext)
    if key.revoked_at is not None:
        log.warning("POSTBACK_ADMIN_API_KEY is set but that key was revoked; it stays revoked")


def authenticate(runtime: Runtime, plaintext: str) -> int | None:
    """The id of the live key with this plaintext, or None if it is unknown or revoked.

    Looked up by hash: comparing SHA-256 digests of 192-bit random keys leaks nothing useful,
    so no constant-time scan over all keys is needed. Reads go through the reader engine so
    a key check never waits for the SQLite write lock.
    """
    digest = hash_key(plaintext)
    with Session(runtime.db.reader) as session:
        key = repository.get_by_hash(session, digest)
        if key is not None:
            return key.id if key.revoked_at is None else None
    if not _is_admin_key(runtime, plaintext):
        return None
    # The configured admin key must work even if its row went missing (a wiped table).
    bootstrap_admin_key(runtime)
    with Session(runtime.db.reader) as session:
        key = repository.get_by_hash(session, digest)
        return key.id if key is not None and key.revoked_at is None else None


def _is_admin_key(runtime: Runtime, plaintext: str) -> bool:
    admin = runtime.settings.admin_api_key
    return bool(admin) and hmac.compare_digest(plaintext.encode(), str(admin).encode())
