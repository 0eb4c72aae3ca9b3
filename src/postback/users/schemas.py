"""What a new user is made of, validated in one place for the CLI and the dashboard."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator

from postback.kit.errors import Unprocessable
from postback.users.tables import EMAIL_MAX, Role

PASSWORD_MIN = 8
# argon2 hashes any length, but a megabyte "password" is only work for us.
PASSWORD_MAX = 1024
# Deliberately loose: one @, something on each side, a dot in the domain, no spaces.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(raw: str) -> str:
    """Lower-cased and trimmed: the stored form, so lookups and uniqueness ignore case."""
    return raw.strip().lower()


class UserCreate(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str
    password: str
    role: Role = Role.VIEWER

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = normalize_email(value)
        if len(value) > EMAIL_MAX or not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        if len(value) < PASSWORD_MIN:
            raise ValueError(f"must be at least {PASSWORD_MIN} characters")
        if len(value) > PASSWORD_MAX:
            raise ValueError(f"must be at most {PASSWORD_MAX} characters")
        return value

    @classmethod
    def parse(cls, email: str, password: str, role: str) -> UserCreate:
        """Validate, turning every problem into one 422 with a readable message."""
        from pydantic import ValidationError

        try:
            return cls(email=email, password=password, role=role)  # type: ignore[arg-type]
        except ValidationError as exc:
            fields = [
                {"field": ".".join(map(str, e["loc"])), "message": _message(e["msg"])}
                for e in exc.errors()
            ]
            detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
            raise Unprocessable(detail, extra=fields) from None


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    role: str
    created_at: datetime
    disabled: bool
