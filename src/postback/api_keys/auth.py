"""Bearer API-key authentication for every /api/v1 route.

Verified keys are remembered for a few seconds in-process, so a busy admin API does not read
the database on each request. A revocation therefore takes effect at once in the process that
made it and within VERIFIED_TTL_SECONDS in the others. Failures are never cached.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from postback.api_keys import service
from postback.kit.cache import TTLCache
from postback.kit.deps import RuntimeDep
from postback.kit.errors import Unauthorized

VERIFIED_TTL_SECONDS = 5.0
# Header values are bounded by the server, but hashing is the only work we do on junk.
MAX_KEY_LENGTH = 256

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="pb_...",
    description="An API key from `postback api-key create` or POSTBACK_ADMIN_API_KEY.",
)
_verified: TTLCache[str, int] = TTLCache(VERIFIED_TTL_SECONDS)


class InvalidApiKey(Unauthorized):
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="postback"'}


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require_api_key(runtime: RuntimeDep, credentials: BearerCredentials) -> int:
    """The id of the caller's API key; 401 unless a live key is sent as a Bearer token."""
    if credentials is None:
        raise InvalidApiKey("send an API key in the header 'Authorization: Bearer <key>'")
    plaintext = credentials.credentials
    if len(plaintext) > MAX_KEY_LENGTH:
        raise InvalidApiKey("the API key is unknown or revoked")
    digest = service.hash_key(plaintext)
    found, key_id = _verified.get(digest)
    if found and key_id is not None:
        return key_id
    key_id = service.authenticate(runtime, plaintext)
    if key_id is None:
        raise InvalidApiKey("the API key is unknown or revoked")
    _verified.put(digest, key_id)
    return key_id


def forget_verified_keys() -> None:
    """Drop remembered keys, after a revocation."""
    _verified.clear()


ApiKeyDep = Annotated[int, Depends(require_api_key)]
# For `APIRouter(dependencies=REQUIRE_API_KEY)`: every admin router requires a key.
REQUIRE_API_KEY = [Depends(require_api_key)]
