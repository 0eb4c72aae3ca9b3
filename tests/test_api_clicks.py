"""POST /api/v1/clicks: a click without a redirect, stored like one; GET reads it back."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile"


def fields_of(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 422, resp.text
    return {f["field"] for f in resp.json()["fields"]}


def make_campaign(api: httpx.Client, weights: list[int], **body: Any) -> dict[str, Any]:
    source = api.post(
        "/api/v1/traffic-sources", json={"name": "s", "external_id_param": "subid"}
    ).json()
    offers = []
    for n, weight in enumerate(weights):
        url = f"https://o{n}.test/?cid={{clickid}}&zone={{zone}}&ext={{external_id}}"
        offer = api.post("/api/v1/offers", json={"name": f"o{n}", "url": url}).json()
        offers.append({"offer_id": offer["id"], "weight": weight})
    payload = {"name": "c", "traffic_source_id": source["id"], "offers": offers, **body}
    resp = api.post("/api/v1/campaigns", json=payload)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_a_registered_click_is_stored_and_reads_back(api: httpx.Client) -> None:
    campaign = make_campaign(api, [100], cost="0.02")
    body = {
        "campaign_key": campaign["key"],
        "tokens": {"zone": "z 1", "subid": "ext-9"},
        "ip": "8.8.8.8",
        "user_agent": ANDROID,
        "referrer": "https://site.test/page",
        "language": "de-DE,de;q=0.9",
        "test": True,
    }
    resp = api.post("/api/v1/clicks", json=body)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    clickid = created["clickid"]
    assert len(clickid) == 26
    assert created["campaign_id"] == campaign["id"]
    assert created["offer_id"] == campaign["offers"][0]["offer_id"]
    assert created["offer_url"] == f"https://o0.test/?cid={clickid}&zone=z%201&ext=ext-9"
    assert created["external_id"] == "ext-9"
    assert created["device"] == "mobile" and created["country"] == "US"
    stored = api.get(f"/api/v1/clicks/{clickid}").json()
    assert stored["clickid"] == clickid
    assert stored["tokens"] == body["tokens"]
    assert stored["ip"] == "8.8.8.8" and stored["language"] == "de-de"
    assert stored["referrer"] == body["referrer"] and stored["os"] == "Android"
    assert stored["cost"] == "0.02" and stored["test"] is True
    assert api.get(f"/api/v1/clicks/{clickid.lower()}").status_code == 200


def test_the_smallest_click_needs_only_the_campaign_key(api: httpx.Client) -> None:
    campaign = make_campaign(api, [1])
    created = api.post("/api/v1/clicks", json={"campaign_key": campaign["key"]}).json()
    stored = api.get(f"/api/v1/clicks/{created['clickid']}").json()
    assert stored["ip"] is None and stored["country"] is None and stored["test"] is False
    assert stored["cost"] == "0"


def test_weights_are_honoured(api: httpx.Client) -> None:
    campaign = make_campaign(api, [1, 3])
    light, heavy = (o["offer_id"] for o in campaign["offers"])

    def one(_: int) -> int:
        resp = api.post("/api/v1/clicks", json={"campaign_key": campaign["key"]})
        assert resp.status_code == 201, resp.text
        return int(resp.json()["offer_id"])

    with ThreadPoolExecutor(8) as pool:
        counts = Counter(pool.map(one, range(1000)))
    # Binomial(1000, 0.25): standard deviation ~13.7, so +-70 is five sigma.
    assert 180 <= counts[light] <= 320, counts
    assert counts[light] + counts[heavy] == 1000


def test_an_unknown_campaign_is_404_and_an_inactive_one_409(api: httpx.Client) -> None:
    resp = api.post("/api/v1/clicks", json={"campaign_key": "nope"})
    assert resp.status_code == 404
    assert resp.json() == {"error": "not_found", "detail": "campaign 'nope' does not exist"}
    campaign = make_campaign(api, [1])
    api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": "paused"})
    paused = api.post("/api/v1/clicks", json={"campaign_key": campaign["key"]})
    assert paused.status_code == 409
    assert paused.json()["error"] == "campaign_inactive"
    api.delete(f"/api/v1/campaigns/{campaign['id']}")
    assert api.post("/api/v1/clicks", json={"campaign_key": campaign["key"]}).status_code == 409


def test_a_campaign_whose_offers_were_archived_is_409(api: httpx.Client) -> None:
    campaign = make_campaign(api, [1])
    api.delete(f"/api/v1/offers/{campaign['offers'][0]['offer_id']}")
    resp = api.post("/api/v1/clicks", json={"campaign_key": campaign["key"]})
    assert resp.status_code == 409 and resp.json()["error"] == "no_offer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "campaign_key"),
        ({"campaign_key": ""}, "campaign_key"),
        ({"campaign_key": "k" * 33}, "campaign_key"),
        ({"campaign_key": "k", "ip": "999.1.1.1"}, "ip"),
        ({"campaign_key": "k", "ip": "localhost"}, "ip"),
        ({"campaign_key": "k", "tokens": {"zone": 5}}, "tokens.zone"),
        ({"campaign_key": "k", "tokens": ["zone"]}, "tokens"),
        ({"campaign_key": "k", "test": "maybe"}, "test"),
    ],
)
def test_a_bad_click_is_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    assert field in fields_of(api.post("/api/v1/clicks", json=body))


def test_long_context_is_trimmed_not_refused(api: httpx.Client) -> None:
    campaign = make_campaign(api, [1])
    body = {
        "campaign_key": campaign["key"],
        "user_agent": "U" * 5000,
        "referrer": "https://r.test/" + "r" * 5000,
        "tokens": {f"t{i}": "v" * 1000 for i in range(100)},
    }
    created = api.post("/api/v1/clicks", json=body)
    assert created.status_code == 201, created.text
    stored = api.get(f"/api/v1/clicks/{created.json()['clickid']}").json()
    assert len(stored["user_agent"]) == 512 and len(stored["referrer"]) == 1024
    assert len(stored["tokens"]) == 40
    assert {len(v) for v in stored["tokens"].values()} == {255}


def test_an_unknown_click_is_404(api: httpx.Client) -> None:
    for clickid in ("01J00000000000000000000000", "not-a-click", "x" * 64):
        resp = api.get(f"/api/v1/clicks/{clickid}")
        assert resp.status_code == 404 and resp.json()["error"] == "not_found"
