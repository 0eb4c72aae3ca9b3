"""Offers and campaigns: fixed shapes, money as strings, references, weights, PATCH, archive."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer

OFFER_URL = "https://offer.test/lp?cid={clickid}&zone={zone}"


def fields_of(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["error"] == "validation_error"
    return {f["field"] for f in body["fields"]}


def source(api: httpx.Client) -> int:
    return int(api.post("/api/v1/traffic-sources", json={"name": "src"}).json()["id"])


def offer(api: httpx.Client, **body: Any) -> int:
    resp = api.post("/api/v1/offers", json={"name": "o", "url": OFFER_URL, **body})
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def campaign(api: httpx.Client, **body: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "c", "traffic_source_id": source(api)}
    if "offers" not in body:
        base["offers"] = [{"offer_id": offer(api)}]
    resp = api.post("/api/v1/campaigns", json={**base, **body})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


# --- offers ------------------------------------------------------------------------------------


def test_an_offer_from_the_smallest_shape_pays_zero_in_the_account_currency(
    api: httpx.Client,
) -> None:
    resp = api.post("/api/v1/offers", json={"name": "o", "url": OFFER_URL})
    assert resp.status_code == 201
    body = resp.json()
    assert isinstance(body["id"], int)
    assert body["payout"] == "0" and body["currency"] == "USD"
    assert body["network_id"] is None and body["url"] == OFFER_URL


@pytest.mark.parametrize(
    ("payout", "text"),
    [("1.50", "1.5"), (2, "2"), (0.1, "0.1"), ("0,25", "0.25"), ("0.000125", "0.000125")],
)
def test_payouts_go_in_as_decimals_and_come_out_as_exact_strings(
    api: httpx.Client, payout: object, text: str
) -> None:
    body = api.post("/api/v1/offers", json={"name": "o", "url": OFFER_URL, "payout": payout})
    assert body.json()["payout"] == text


def test_an_offer_takes_its_networks_currency_unless_told(api: httpx.Client) -> None:
    network = api.post("/api/v1/networks", json={"name": "n", "currency": "EUR"}).json()
    inherited = api.get(f"/api/v1/offers/{offer(api, network_id=network['id'])}").json()
    assert inherited["currency"] == "EUR" and inherited["network_id"] == network["id"]
    own = api.get(f"/api/v1/offers/{offer(api, network_id=network['id'], currency='GBP')}")
    assert own.json()["currency"] == "GBP"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "//offer.test/"}, "url"),
        ({"url": "https://offer.test/a b"}, "url"),
        ({"url": "https://" + "x" * 2100 + ".test/"}, "url"),
        ({"payout": "abc"}, "payout"),
        ({"payout": "-1"}, "payout"),
        ({"payout": "0.0000001"}, "payout"),
        ({"payout": True}, "payout"),
        ({"payout": "1e20"}, "payout"),
        ({"payout": "NaN"}, "payout"),
        ({"currency": "ZZZ"}, "currency"),
        ({"network_id": 999}, "network_id"),
        ({"network_id": 0}, "network_id"),
        ({"network_id": "x"}, "network_id"),
    ],
)
def test_a_bad_offer_is_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    resp = api.post("/api/v1/offers", json={"name": "o", "url": OFFER_URL, **body})
    assert field in fields_of(resp)


def test_an_archived_network_cannot_take_new_offers(api: httpx.Client) -> None:
    network = api.post("/api/v1/networks", json={"name": "n"}).json()
    api.delete(f"/api/v1/networks/{network['id']}")
    resp = api.post(
        "/api/v1/offers", json={"name": "o", "url": OFFER_URL, "network_id": network["id"]}
    )
    assert fields_of(resp) == {"network_id"}
    assert "archived" in resp.json()["detail"]


def test_offer_patch_changes_payout_and_detaches_the_network(api: httpx.Client) -> None:
    network = api.post("/api/v1/networks", json={"name": "n"}).json()
    offer_id = offer(api, network_id=network["id"], payout="1")
    path = f"/api/v1/offers/{offer_id}"
    changed = api.patch(path, json={"payout": "2.75", "network_id": None}).json()
    assert changed["payout"] == "2.75" and changed["network_id"] is None
    assert changed["url"] == OFFER_URL
    assert "payout" in fields_of(api.patch(path, json={"payout": None}))
    assert "url" in fields_of(api.patch(path, json={"url": "mailto:x@y.z"}))
    assert api.patch("/api/v1/offers/999", json={}).status_code == 404


def test_offers_list_by_network(api: httpx.Client) -> None:
    network = api.post("/api/v1/networks", json={"name": "n"}).json()
    mine = offer(api, network_id=network["id"])
    offer(api)
    listed = api.get("/api/v1/offers", params={"network_id": network["id"]}).json()
    assert [o["id"] for o in listed["items"]] == [mine]


# --- campaigns ---------------------------------------------------------------------------------


def test_a_campaign_from_the_smallest_shape_has_a_tracking_link(
    live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    source_id, offer_id = source(api), offer(api)
    body = {"name": "c", "traffic_source_id": source_id, "offers": [{"offer_id": offer_id}]}
    resp = api.post("/api/v1/campaigns", json=body)
    assert resp.status_code == 201
    created = resp.json()
    assert created["tracking_url"] == f"{live.settings.public_url}/c/{created['key']}"
    assert created["offers"] == [{"offer_id": offer_id, "weight": 100}]
    assert created["status"] == "active" and created["archived"] is False
    assert created["cost"] == {"model": "none", "value": None}
    click = http.get(created["tracking_url"], params={"zone": "z1"})
    assert click.status_code == 302
    assert click.headers["location"].startswith("https://offer.test/lp?cid=")


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ("0.05", {"model": "cpc", "value": "0.05"}),
        (0.002, {"model": "cpc", "value": "0.002"}),
        ({"model": "cpm", "value": "1.2"}, {"model": "cpm", "value": "1.2"}),
        ({"model": "token"}, {"model": "token", "value": None}),
        ({"model": "cpa", "value": "2.5"}, {"model": "cpa", "value": "2.5"}),
        ({"model": "revshare", "value": "40"}, {"model": "revshare", "value": "40"}),
        ({"model": "none"}, {"model": "none", "value": None}),
        (None, {"model": "none", "value": None}),
    ],
)
def test_cost_is_a_cpc_decimal_or_a_model(
    api: httpx.Client, cost: object, expected: dict[str, Any]
) -> None:
    assert campaign(api, cost=cost)["cost"] == expected


@pytest.mark.parametrize(
    "cost",
    [
        {"model": "cpx", "value": "1"},
        {"model": "cpc"},
        {"model": "cpa"},
        {"model": "revshare", "value": "0"},
        {"model": "revshare", "value": "100.5"},
        {"model": "token", "value": "1"},
        "-0.1",
        "free",
        True,
        [1],
    ],
)
def test_a_bad_cost_is_422(api: httpx.Client, cost: object) -> None:
    body = {"name": "c", "traffic_source_id": source(api), "offers": [{"offer_id": offer(api)}]}
    fields = fields_of(api.post("/api/v1/campaigns", json={**body, "cost": cost}))
    assert all(f.startswith("cost") for f in fields)


def test_campaign_references_must_exist_and_be_live(api: httpx.Client) -> None:
    source_id, offer_id = source(api), offer(api)
    good = {"name": "c", "traffic_source_id": source_id, "offers": [{"offer_id": offer_id}]}
    post = lambda **b: api.post("/api/v1/campaigns", json={**good, **b})  # noqa: E731
    assert fields_of(post(traffic_source_id=999)) == {"traffic_source_id"}
    assert fields_of(post(offers=[{"offer_id": offer_id}, {"offer_id": 999}])) == {
        "offers.1.offer_id"
    }
    assert "offers" in fields_of(post(offers=[{"offer_id": offer_id}, {"offer_id": offer_id}]))
    archived = offer(api)
    api.delete(f"/api/v1/offers/{archived}")
    assert fields_of(post(offers=[{"offer_id": archived}])) == {"offers.0.offer_id"}
    api.delete(f"/api/v1/traffic-sources/{source_id}")
    assert fields_of(post()) == {"traffic_source_id"}


def test_an_active_campaign_needs_a_weighted_offer(api: httpx.Client) -> None:
    base = {"name": "c", "traffic_source_id": source(api)}
    zero = [{"offer_id": offer(api), "weight": 0}]
    assert fields_of(api.post("/api/v1/campaigns", json={**base, "offers": zero})) == {"offers"}
    assert fields_of(api.post("/api/v1/campaigns", json={**base, "offers": []})) == {"offers"}
    paused = api.post("/api/v1/campaigns", json={**base, "offers": zero, "status": "paused"})
    assert paused.status_code == 201
    activate = api.patch(f"/api/v1/campaigns/{paused.json()['id']}", json={"status": "active"})
    assert fields_of(activate) == {"status"}
    for weight in (-1, 1_000_001, "heavy"):
        bad = [{"offer_id": zero[0]["offer_id"], "weight": weight}]
        assert fields_of(api.post("/api/v1/campaigns", json={**base, "offers": bad})) == {
            "offers.0.weight"
        }


def test_patch_replaces_the_offer_list_in_order(api: httpx.Client) -> None:
    first, second, third = offer(api), offer(api), offer(api)
    created = campaign(api, offers=[{"offer_id": first}, {"offer_id": second, "weight": 5}])
    path = f"/api/v1/campaigns/{created['id']}"
    new_offers = [{"offer_id": third, "weight": 7}, {"offer_id": first, "weight": 1}]
    changed = api.patch(path, json={"offers": new_offers}).json()
    assert changed["offers"] == new_offers
    assert api.get(path).json()["offers"] == new_offers
    renamed = api.patch(path, json={"name": "renamed"}).json()
    assert renamed["offers"] == new_offers and renamed["key"] == created["key"]
    assert "offers" in fields_of(api.patch(path, json={"offers": None}))


def test_a_paused_campaign_stops_redirecting_at_once(api: httpx.Client, http: httpx.Client) -> None:
    created = campaign(api, fallback_url="https://fallback.test/")
    assert http.get(created["tracking_url"]).status_code == 302
    path = f"/api/v1/campaigns/{created['id']}"
    assert api.patch(path, json={"status": "paused"}).json()["status"] == "paused"
    resp = http.get(created["tracking_url"])
    assert resp.headers["location"] == "https://fallback.test/"
    api.patch(path, json={"fallback_url": None})
    assert http.get(created["tracking_url"]).status_code == 404


def test_archive_is_a_status_and_unarchiving_pauses(api: httpx.Client, http: httpx.Client) -> None:
    created = campaign(api)
    path = f"/api/v1/campaigns/{created['id']}"
    archived = api.delete(path).json()
    assert archived["archived"] is True and archived["status"] == "archived"
    assert http.get(created["tracking_url"]).status_code == 404
    assert api.get("/api/v1/campaigns").json()["items"] == []
    assert len(api.get("/api/v1/campaigns", params={"include_archived": 1}).json()["items"]) == 1
    assert fields_of(api.patch(path, json={"archived": True, "status": "active"})) == {"archived"}
    assert fields_of(api.patch(path, json={"archived": False, "status": "archived"})) == {
        "archived"
    }
    assert api.patch(path, json={"archived": False}).json()["status"] == "paused"
    assert api.patch(path, json={"status": "active"}).json()["archived"] is False


def test_offer_changes_reach_the_click_path_at_once(api: httpx.Client, http: httpx.Client) -> None:
    offer_id = offer(api)
    created = campaign(api, offers=[{"offer_id": offer_id}])
    assert http.get(created["tracking_url"]).headers["location"].startswith("https://offer.test/")
    api.patch(f"/api/v1/offers/{offer_id}", json={"url": "https://new.test/?c={clickid}"})
    assert http.get(created["tracking_url"]).headers["location"].startswith("https://new.test/")


def test_unknown_campaign_is_404_and_bad_ids_422(api: httpx.Client) -> None:
    assert api.get("/api/v1/campaigns/77").json() == {
        "error": "not_found",
        "detail": "campaign 77 does not exist",
    }
    assert api.get("/api/v1/campaigns/-1").status_code == 422
    assert api.patch("/api/v1/campaigns/1", content=b"{not json").status_code == 422
    assert api.post("/api/v1/campaigns", content=b"[]").status_code == 422
