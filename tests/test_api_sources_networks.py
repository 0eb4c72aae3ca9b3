"""Traffic sources and networks: fixed shapes, validation, PATCH semantics, archive."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from postback.models import TrafficSource, utcnow
from tests.conftest import LiveServer


def fields_of(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["error"] == "validation_error"
    return {f["field"] for f in body["fields"]}


# --- traffic sources ---------------------------------------------------------------------------


def test_a_traffic_source_is_created_from_the_smallest_shape(api: httpx.Client) -> None:
    resp = api.post("/api/v1/traffic-sources", json={"name": "Adsterra"})
    assert resp.status_code == 201
    source = resp.json()
    assert isinstance(source["id"], int)
    assert source["template"] == "custom"
    assert source["external_id_param"] == "external_id"
    assert source["cost_param"] == "cost"
    assert source["postback_url"] is None
    assert source["archived"] is False
    assert source["created_at"].endswith(("Z", "+00:00"))


def test_a_traffic_source_keeps_its_postback_template(api: httpx.Client) -> None:
    url = "http://www.pbterra.com/name/acc/at?subid_short={external_id}&atpay={payout}"
    body = {"name": "A", "template": "adsterra", "postback_url": url, "external_id_param": "subid"}
    source = api.post("/api/v1/traffic-sources", json=body).json()
    assert source["postback_url"] == url
    assert api.get(f"/api/v1/traffic-sources/{source['id']}").json() == source


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "a", "postback_url": "ftp://x.test/"}, "postback_url"),
        ({"name": "a", "postback_url": "not a url"}, "postback_url"),
        ({"name": "a", "postback_url": "https:///no-host"}, "postback_url"),
        ({"name": "a", "template": "Has Spaces"}, "template"),
        ({"name": "a", "external_id_param": "a b"}, "external_id_param"),
        ({"name": "a", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_traffic_source_is_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    assert field in fields_of(api.post("/api/v1/traffic-sources", json=body))


def test_patch_changes_only_what_is_sent_and_null_clears(api: httpx.Client) -> None:
    body = {"name": "S", "postback_url": "https://s.test/pb?id={external_id}"}
    source = api.post("/api/v1/traffic-sources", json=body).json()
    path = f"/api/v1/traffic-sources/{source['id']}"
    renamed = api.patch(path, json={"name": "S2"}).json()
    assert renamed["name"] == "S2"
    assert renamed["postback_url"] == body["postback_url"]
    cleared = api.patch(path, json={"postback_url": None}).json()
    assert cleared["postback_url"] is None and cleared["name"] == "S2"
    assert "name" in fields_of(api.patch(path, json={"name": None}))
    assert api.patch(path, json={}).json()["name"] == "S2"


def test_archived_sources_leave_the_list_unless_asked(api: httpx.Client) -> None:
    keep = api.post("/api/v1/traffic-sources", json={"name": "keep"}).json()
    gone = api.post("/api/v1/traffic-sources", json={"name": "gone"}).json()
    archived = api.delete(f"/api/v1/traffic-sources/{gone['id']}")
    assert archived.status_code == 200 and archived.json()["archived"] is True
    ids = [s["id"] for s in api.get("/api/v1/traffic-sources").json()["items"]]
    assert ids == [keep["id"]]
    listed = api.get("/api/v1/traffic-sources", params={"include_archived": True}).json()
    assert [s["id"] for s in listed["items"]] == [keep["id"], gone["id"]]
    restored = api.patch(f"/api/v1/traffic-sources/{gone['id']}", json={"archived": False})
    assert restored.json()["archived"] is False


def test_unknown_traffic_source_is_404(api: httpx.Client) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        resp = api.request(method, "/api/v1/traffic-sources/4242", json={})
        assert resp.status_code == 404
        assert resp.json() == {"error": "not_found", "detail": "traffic source 4242 does not exist"}


def test_lists_page_with_a_cursor(api: httpx.Client) -> None:
    made = [api.post("/api/v1/traffic-sources", json={"name": f"s{i}"}).json() for i in range(5)]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(5):
        page = api.get("/api/v1/traffic-sources", params=params).json()
        seen.extend(s["id"] for s in page["items"])
        if page["next"] is None:
            break
        params["cursor"] = page["next"]
    assert seen == [s["id"] for s in made]
    for bad in ({"cursor": "x"}, {"cursor": "99999999999"}, {"limit": 0}, {"limit": 501}):
        assert api.get("/api/v1/traffic-sources", params=bad).status_code == 422


# --- networks ----------------------------------------------------------------------------------


def test_a_network_gets_a_key_and_a_postback_url_to_paste(
    live: LiveServer, api: httpx.Client
) -> None:
    resp = api.post("/api/v1/networks", json={"name": "CAKE"})
    assert resp.status_code == 201
    network = resp.json()
    key, secret = network["key"], network["secret"]
    assert len(key) == 10 and key.isalnum()
    # Secure by default: a generated secret, in the URL to paste.
    assert len(secret) == 32 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)
    assert network["postback_url"] == (
        f"{live.settings.public_url}/postback/{key}?clickid={{clickid}}&payout={{payout}}"
        f"&txid={{txid}}&token={secret}"
    )
    assert (network["insecure"], network["warnings"]) == (False, [])
    assert network["currency"] == "USD"
    assert network["lookback_days"] == 30
    assert network["duplicate_mode"] == "ignore"
    assert network["allowed_ips"] == []
    other = api.post("/api/v1/networks", json={"name": "CAKE 2"}).json()
    assert other["secret"] != secret


def test_a_network_takes_every_rule(api: httpx.Client) -> None:
    body = {
        "name": "Everflow",
        "template": "everflow",
        "secret": "s3cr3t-t0ken-value",
        "allowed_ips": ["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"],
        "currency": "eur",
        "lookback_days": 7,
        "duplicate_mode": "new_per_txid",
        "duplicate_modes": {"install": "ignore", "rebill": "accumulate"},
        "aliases": {"tid": "clickid", "amt": "payout"},
        "status_map": {"1": "approved", "hold": "pending", "0": "rejected"},
    }
    network = api.post("/api/v1/networks", json=body).json()
    for name in ("secret", "allowed_ips", "lookback_days", "duplicate_modes", "aliases"):
        assert network[name] == body[name]
    assert network["currency"] == "EUR"
    assert network["status_map"] == body["status_map"]
    assert network["postback_url"].endswith("&token=s3cr3t-t0ken-value")


def test_the_secret_is_masked_in_lists_only(api: httpx.Client) -> None:
    secret = "a-long-network-secret-1234"
    created = api.post("/api/v1/networks", json={"name": "N", "secret": secret}).json()
    assert created["secret"] == secret
    assert api.get(f"/api/v1/networks/{created['id']}").json()["secret"] == secret
    listed = api.get("/api/v1/networks")
    assert secret not in listed.text
    item = listed.json()["items"][0]
    assert item["secret"] == "****1234"
    assert "token=" not in item["postback_url"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"allowed_ips": ["not-an-ip"]}, "allowed_ips.0"),
        ({"allowed_ips": ["10.0.0.1/8"]}, "allowed_ips.0"),
        ({"allowed_ips": ["1.2.3.4", "300.1.1.1"]}, "allowed_ips.1"),
        ({"allowed_ips": "1.2.3.4"}, "allowed_ips"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"duplicate_mode": "keep"}, "duplicate_mode"),
        ({"duplicate_modes": {"rebill": "keep"}}, "duplicate_modes.rebill"),
        ({"status_map": {"1": "paid"}}, "status_map.1"),
        ({"lookback_days": 0}, "lookback_days"),
        ({"secret": "has space"}, "secret"),
        ({"secret": ""}, "secret"),
    ],
)
def test_a_bad_network_is_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    resp = api.post("/api/v1/networks", json={"name": "N", **body})
    assert field in fields_of(resp)


def test_the_account_currency_is_always_accepted(live: LiveServer, api: httpx.Client) -> None:
    assert live.settings.account_currency == "USD"
    assert api.post("/api/v1/networks", json={"name": "N", "currency": "usd"}).status_code == 201


def test_network_patch_validates_and_keeps_the_key(api: httpx.Client) -> None:
    network = api.post("/api/v1/networks", json={"name": "N", "secret": "old-secret"}).json()
    path = f"/api/v1/networks/{network['id']}"
    changed = api.patch(path, json={"secret": None, "allowed_ips": ["192.0.2.1"]}).json()
    assert changed["key"] == network["key"]
    assert changed["secret"] is None and "token=" not in changed["postback_url"]
    assert changed["allowed_ips"] == ["192.0.2.1"]
    assert "currency" in fields_of(api.patch(path, json={"currency": "QQQ"}))
    assert "allowed_ips" in fields_of(api.patch(path, json={"allowed_ips": None}))
    assert api.delete(path).json()["archived"] is True
    assert api.get("/api/v1/networks").json()["items"] == []


# --- outbound postback settings and inbound signing -------------------------------------------

WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_source_says_which_conversions_fire_its_postback(api: httpx.Client) -> None:
    body = {
        "name": "S",
        "postback_url": "https://s.test/pb?id={external_id}&s={status}",
        "postback_events": ["Install", "purchase"],
        "postback_statuses": ["approved", "rejected"],
        "postback_status_names": {"approved": "1", "rejected": "0"},
        "postback_signing_secret": WHSEC,
    }
    source = api.post("/api/v1/traffic-sources", json=body).json()
    assert source["postback_events"] == ["Install", "purchase"]  # exactly as written
    assert source["postback_statuses"] == ["approved", "rejected"]
    assert source["postback_status_names"] == {"approved": "1", "rejected": "0"}
    assert source["postback_signing_secret"] == WHSEC
    assert source["postback_disabled_at"] is None
    listed = api.get("/api/v1/traffic-sources").json()["items"][0]
    assert listed["postback_signing_secret"] == "whsec_****"
    plain = api.post("/api/v1/traffic-sources", json={"name": "P"}).json()
    assert plain["postback_statuses"] == ["approved"] and plain["postback_events"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"postback_events": ["bad event"]}, "postback_events.0"),
        ({"postback_statuses": ["paid"]}, "postback_statuses.0"),
        ({"postback_status_names": {"paid": "1"}}, "postback_status_names.paid.[key]"),
        ({"postback_signing_secret": "not-whsec"}, "postback_signing_secret"),
        ({"postback_signing_secret": "whsec_!!!"}, "postback_signing_secret"),
        ({"postback_signing_secret": "whsec_c2hvcnQ="}, "postback_signing_secret"),
    ],
)
def test_bad_outbound_settings_are_422(api: httpx.Client, body: dict[str, Any], field: str) -> None:
    fields = fields_of(api.post("/api/v1/traffic-sources", json={"name": "S", **body}))
    assert any(f.startswith(field.split(".[")[0]) for f in fields), fields


def test_editing_the_postback_re_enables_a_disabled_source(
    live: LiveServer, api: httpx.Client
) -> None:
    source = api.post("/api/v1/traffic-sources", json={"name": "S"}).json()
    with live.runtime.db.session() as s:
        row = s.get(TrafficSource, source["id"])
        assert row is not None
        row.postback_disabled_at = utcnow()
        row.postback_disabled_reason = "410 Gone"
    path = f"/api/v1/traffic-sources/{source['id']}"
    assert (
        api.patch(path, json={"name": "renamed"}).json()["postback_disabled_reason"] == "410 Gone"
    )
    fixed = api.patch(path, json={"postback_url": "https://new.test/pb?id={external_id}"}).json()
    assert fixed["postback_disabled_at"] is None and fixed["postback_disabled_reason"] is None


def test_a_network_can_require_signed_postbacks(api: httpx.Client) -> None:
    signing = "hmac-signing-secret-5678"
    network = api.post("/api/v1/networks", json={"name": "N", "signing_secret": signing}).json()
    assert network["signing_secret"] == signing
    assert api.get("/api/v1/networks").json()["items"][0]["signing_secret"] == "****5678"
    path = f"/api/v1/networks/{network['id']}"
    assert api.patch(path, json={"signing_secret": None}).json()["signing_secret"] is None


def test_aliases_must_name_a_canonical_field(api: httpx.Client) -> None:
    resp = api.post("/api/v1/networks", json={"name": "N", "aliases": {"tid": "click"}})
    assert fields_of(resp) == {"aliases.tid"}
    events = {"Rebill": "new_per_txid"}
    network = api.post("/api/v1/networks", json={"name": "N", "duplicate_modes": events}).json()
    assert network["duplicate_modes"] == {"Rebill": "new_per_txid"}  # exactly as written
