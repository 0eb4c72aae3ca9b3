"""One error base class. Each subclass knows its HTTP status and reason code.

PostbackError
 ├── BadRequest        400
 ├── Unauthorized      401
 ├── Forbidden         403
 ├── NotFound          404
 ├── Conflict          409
 └── Unprocessable     422
"""

from __future__ import annotations

from typing import Any, ClassVar


class PostbackError(Exception):
    status_code: ClassVar[int] = 500
    error: ClassVar[str] = "server_error"

    def __init__(self, detail: str, *, error: str | None = None, extra: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = error or self.error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail}
        if self.extra is not None:
            body["fields"] = self.extra
        return body


class BadRequest(PostbackError):
    status_code = 400
    error = "bad_request"


class Unauthorized(PostbackError):
    status_code = 401
    error = "unauthorized"


class Forbidden(PostbackError):
    status_code = 403
    error = "forbidden"


class NotFound(PostbackError):
    status_code = 404
    error = "not_found"


class Conflict(PostbackError):
    status_code = 409
    error = "conflict"


class Unprocessable(PostbackError):
    status_code = 422
    error = "validation_error"
