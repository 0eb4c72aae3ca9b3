"""API keys: bearer auth on every /api/v1 route, create-once, revoke, bootstrap."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from sqlalchemy import func, select

from postback.api_keys import service
from postback.models import ApiKey
from tests.conftest import ADMIN_KEY, LiveServer


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_request_without_a_key_is_401_in_the_one_error_shape(http: httpx.Client) -> None:
    resp = http.get("/api/v1/campaigns")
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"
    assert "Bearer" in resp.json()["detail"]


def test_a_401_carries_www_authenticate_bearer(http: httpx.Client) -> None:
    resp = http.get("/api/v1/campaigns")
    assert resp.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer pb_not_a_real_key",
        f"Basic {ADMIN_KEY}",
        f"Bearer {ADMIN_KEY}x",
        "Bearer " + "x" * 5000,
        "Bearer",
        "",
    ],
)
def test_a_wrong_key_or_scheme_is_401(http: httpx.Client, header: str) -> None:
    resp = http.get("/api/v1/api-keys", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"


def test_every_admin_route_requires_a_key(http: httpx.Client) -> None:
    paths = http.get("/api/openapi.json").json()["paths"]
    operations = [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for path, item in paths.items()
        if path.startswith("/api/v1/")
        for method in item
    ]
    assert len(operations) >= 25
    for method, path in operations:
        resp = http.request(method.upper(), path, json={})
        assert resp.status_code == 401, (method, path, resp.status_code)


def test_a_created_key_is_shown_once_and_works(api: httpx.Client, http: httpx.Client) -> None:
    resp = api.post("/api/v1/api-keys", json={"name": "ci"})
    assert resp.status_code == 201
    created = resp.json()
    key = created["key"]
    assert re.fullmatch(r"pb_[A-Za-z0-9_-]{32}", key)
    assert key.startswith(created["prefix"]) and len(created["prefix"]) < 10
    assert created["revoked"] is False and created["revoked_at"] is None
    assert http.get("/api/v1/api-keys", headers=bearer(key)).status_code == 200
    listed = api.get("/api/v1/api-keys")
    assert "ci" in {k["name"] for k in listed.json()["items"]}
    one = api.get(f"/api/v1/api-keys/{created['id']}")
    for resp in (listed, one):
        assert key not in resp.text and "key_hash" not in resp.text


def test_the_key_is_stored_only_as_a_sha256_hash(live: LiveServer, api: httpx.Client) -> None:
    key = api.post("/api/v1/api-keys", json={"name": "hashed"}).json()["key"]
    with live.runtime.db.session() as s:
        row = s.scalars(select(ApiKey).where(ApiKey.name == "hashed")).one()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(row.prefix) and len(row.prefix) < 10


def test_a_revoked_key_is_refused_at_once(api: httpx.Client, http: httpx.Client) -> None:
    created = api.post("/api/v1/api-keys", json={"name": "temp"}).json()
    assert http.get("/api/v1/offers", headers=bearer(created["key"])).status_code == 200
    revoked = api.delete(f"/api/v1/api-keys/{created['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked"] is True
    first_revocation = revoked.json()["revoked_at"]
    resp = http.get("/api/v1/offers", headers=bearer(created["key"]))
    assert resp.status_code == 401
    again = api.delete(f"/api/v1/api-keys/{created['id']}")
    assert again.json()["revoked_at"] == first_revocation


def test_revoking_an_unknown_key_is_404_and_a_bad_id_422(api: httpx.Client) -> None:
    assert api.delete("/api/v1/api-keys/999999").json()["error"] == "not_found"
    assert api.delete("/api/v1/api-keys/0").status_code == 422
    assert api.delete("/api/v1/api-keys/abc").status_code == 422
    assert api.delete(f"/api/v1/api-keys/{10**30}").status_code == 422


def test_a_key_needs_a_name(api: httpx.Client) -> None:
    for body in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": "a", "x": 1}):
        resp = api.post("/api/v1/api-keys", json=body)
        assert resp.status_code == 422, body
        assert resp.json()["error"] == "validation_error"


def test_bootstrap_is_idempotent_and_keeps_a_revocation(live: LiveServer) -> None:
    runtime = live.runtime
    service.bootstrap_admin_key(runtime)
    service.bootstrap_admin_key(runtime)
    digest = service.hash_key(ADMIN_KEY)
    with runtime.db.session() as s:
        count = s.scalar(select(func.count()).where(ApiKey.key_hash == digest))
        row = s.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).one()
        row.revoked_at = row.created_at
    assert count == 1
    service.bootstrap_admin_key(runtime)
    assert service.authenticate(runtime, ADMIN_KEY) is None


def test_create_key_gives_the_cli_a_row_and_the_plaintext(live: LiveServer) -> None:
    with live.runtime.db.session() as s:
        row, plaintext = service.create_key(s, "cli")
        assert row.id is not None
    assert service.authenticate(live.runtime, plaintext) == row.id
    assert service.authenticate(live.runtime, plaintext + "x") is None
