"""HTML form bodies (application/x-www-form-urlencoded), read with a size limit.

Our forms are small and never upload files, so the standard library parses them; each field
keeps its last value, as a browser sends one per name.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from postback.kit.errors import BadRequest, PostbackError

MAX_FORM_BYTES = 64 * 1024


class FormTooLarge(PostbackError):
    status_code = 413
    error = "too_large"


class FormData(dict[str, str]):
    def text(self, name: str, max_length: int = 1000) -> str:
        """A field, trimmed; over `max_length` is a 400, not a silent cut."""
        value = self.get(name, "").strip()
        if len(value) > max_length:
            raise BadRequest(f"{name} must be at most {max_length} characters")
        return value


async def read_form(request: Request) -> FormData:
    if request.method != "POST":
        return FormData()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", ""):
        raise BadRequest("send the form as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise BadRequest("the form is not UTF-8 text") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=200)
    except ValueError:
        raise BadRequest("the form has too many fields") from None
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise BadRequest("the form must not contain NUL characters")
    return FormData(pairs)


FormDep = Annotated[FormData, Depends(read_form)]
