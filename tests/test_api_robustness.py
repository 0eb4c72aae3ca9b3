"""Bad input is never a 500: every admin route gets junk bodies, ids and query values."""

from __future__ import annotations

import re

import httpx
import pytest

JUNK_BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"1e999",
    b"{not json",
    b"\xff\xfe\x00",
    b"[" * 5000 + b"]" * 5000,
    b'{"name": "a\\u0000b", "url": "https://x.test/\\u0000", "campaign_key": "k\\u0000"}',
    b'{"name": "' + b"n" * 100_000 + b'"}',
    b'{"name": "x", "url": "https://x.test/", "traffic_source_id": 1e300, "offers": {}}',
    b'{"name": 5, "payout": {"a": 1}, "weight": -1, "currency": [], "allowed_ips": [1]}',
    b'{"campaign_key": "k", "tokens": {"a": "\\u0000"}, "user_agent": "\\u0000"}',
    b'{"name": "x", "archived": null, "status": null, "offers": null, "cost": null}',
]
JUNK_IDS = ["0", "-5", "99999999999999999999", "abc", "%00", "1.5", "x" * 300, "%F0%9F%92%A9"]
JUNK_QUERIES = [
    {"limit": "-1"},
    {"limit": "1" * 50},
    {"cursor": "\x00"},
    {"cursor": "9" * 60},
    {"from": "9999-12-31T23:59:59-05:00"},
    {"to": "0001-01-01T00:00:00+05:00"},
    {"from": "99999999999999999"},
    {"campaign_id": "1e10"},
    {"event": "a\x00b"},
    {"reason": "\x00"},
    {"clickid": "\x00"},
    {"include_archived": "perhaps"},
    {"network_id": "-1"},
]


@pytest.fixture
def operations(http: httpx.Client) -> list[tuple[str, str]]:
    paths = http.get("/api/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, item in paths.items()
        if path.startswith("/api/v1/")
        for method in item
    ]


def test_junk_bodies_are_never_a_server_error(
    api: httpx.Client, operations: list[tuple[str, str]]
) -> None:
    for method, path in operations:
        if method not in ("POST", "PATCH"):
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        for body in JUNK_BODIES:
            resp = api.request(
                method, url, content=body, headers={"content-type": "application/json"}
            )
            assert resp.status_code < 500, (method, url, body[:60], resp.text[:200])
            assert "error" in resp.json()


def test_junk_ids_are_never_a_server_error(
    api: httpx.Client, operations: list[tuple[str, str]]
) -> None:
    for method, path in operations:
        if "{" not in path:
            continue
        for junk in JUNK_IDS:
            url = re.sub(r"\{[^}]+\}", junk, path)
            resp = api.request(method, url, json={})
            assert resp.status_code < 500, (method, url, resp.text[:200])


def test_junk_query_values_are_never_a_server_error(
    api: httpx.Client, operations: list[tuple[str, str]]
) -> None:
    for method, path in operations:
        if method != "GET" or "{" in path:
            continue
        for params in JUNK_QUERIES:
            resp = api.get(path, params=params)
            assert resp.status_code < 500, (path, params, resp.text[:200])


def test_nul_characters_are_422_not_a_database_error(api: httpx.Client) -> None:
    resp = api.post("/api/v1/traffic-sources", json={"name": "a\x00b"})
    assert resp.status_code == 422 and resp.json()["fields"][0]["field"] == "name"
    assert api.get("/api/v1/conversions", params={"event": "a\x00"}).status_code == 422
