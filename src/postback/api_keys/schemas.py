"""API-key payloads. The plaintext key appears in exactly one response: the one creating it."""

from __future__ import annotations

from pydantic import Field, computed_field

from postback.kit.fields import Input, Name, Output, UtcDatetime


class ApiKeyCreate(Input):
    name: Name


class ApiKeyOut(Output):
    id: int
    name: str
    prefix: str = Field(description="The first characters of the key, to tell keys apart")
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown once, store it now")
