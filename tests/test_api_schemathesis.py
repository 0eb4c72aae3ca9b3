"""Schemathesis against the admin API's own OpenAPI document: no input is ever a 5xx.

Every operation gets a few generated requests (valid and invalid), sent over real HTTP with
the admin key, on both databases. Only `not_a_server_error` is checked: the responses'
conformance to the schema is a separate matter.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import ADMIN_KEY, LiveServer

EXAMPLES_PER_OPERATION = int(os.environ.get("POSTBACK_SCHEMATHESIS_EXAMPLES", "12"))
# Shrinking would spend the time budget on one failure; the failing case is printed as is.
BOUNDED = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _failures_of(operation: Any, base_url: str) -> list[str]:
    failures: list[str] = []

    @BOUNDED
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=AUTH, timeout=10)
        try:
            case.validate_response(response, checks=[not_a_server_error], headers=AUTH)
        except (AssertionError, BaseExceptionGroup):  # one failure, or several
            failures.append(
                f"{case.as_curl_command(AUTH, base_url=base_url)} -> {response.status_code}"
            )

    run()
    return failures


def test_no_admin_api_request_is_a_server_error(live: LiveServer) -> None:
    raw = httpx.get(f"{live.url}/api/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(raw)
    failures: list[str] = []
    for result in schema.get_all_operations():
        failures += _failures_of(result.ok(), live.url)
    assert not failures, "\n".join(failures)
