"""API keys (work in progress)."""

from typing import Any


def bootstrap_admin_key(runtime: Any) -> None:
    return None
