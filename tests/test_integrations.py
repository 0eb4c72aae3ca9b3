"""The integration check: offer-URL verdicts, and a test conversion PENDING -> VALID / INVALID."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from postback.integrations.schemas import CORRECT


def setup(api: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    source = api.post("/api/v1/traffic-sources", json={"name": "s"}).json()
    network = api.post(
        "/api/v1/networks", json={"name": "n", "template": "tune", "secret": "s3cr3t"}
    ).json()
    offer = api.post(
        "/api/v1/offers",
        json={"name": "o", "url": "https://o.test/?aff_sub={clickid}", "network_id": network["id"]},
    ).json()
    body = {"name": "c", "traffic_source_id": source["id"], "offers": [{"offer_id": offer["id"]}]}
    return api.post("/api/v1/campaigns", json=body).json(), network


def test_the_offer_url_check_says_it_is_correct_or_exactly_what_is_wrong(
    api: httpx.Client,
) -> None:
    check = "/api/v1/integrations/offer-url-check"
    good = api.post(check, json={"url": "https://o.test/?s={clickid}"}).json()
    assert (good["valid"], good["message"], good["errors"]) == (True, CORRECT, [])
    bad = api.post(check, json={"url": "https://o.test/?s=##SUB_ID_SHORT##"}).json()
    assert bad["valid"] is False
    assert [e["code"] for e in bad["errors"]] == ["foreign_macro", "missing_clickid"]
    assert bad["message"].startswith("##SUB_ID_SHORT## is a ##X## placeholder")


def make_test(api: httpx.Client, campaign: dict[str, Any]) -> dict[str, Any]:
    resp = api.post("/api/v1/integrations/test-conversions", json={"campaign_id": campaign["id"]})
    assert resp.status_code == 201, resp.text
    made: dict[str, Any] = resp.json()
    assert made["status"] == "PENDING"
    return made


def status_of(api: httpx.Client, clickid: str) -> dict[str, Any]:
    data: dict[str, Any] = api.get(f"/api/v1/integrations/test-conversions/{clickid}").json()
    return data


def test_a_test_conversion_goes_from_pending_to_valid(
    api: httpx.Client, http: httpx.Client
) -> None:
    campaign, network = setup(api)
    made = make_test(api, campaign)
    clickid = made["clickid"]
    assert dict(parse_qsl(urlsplit(made["redirect_url"]).query))["aff_sub"] == clickid
    assert status_of(api, clickid)["status"] == "PENDING"
    url = network["postback_url"].replace("{aff_sub}", clickid).replace("{payout}", "1")
    assert http.get(url.replace("{transaction_id}", "T1")).status_code == 200
    valid = status_of(api, clickid)
    assert (valid["status"], valid["reason"]) == ("VALID", None)
    click = api.get(f"/api/v1/clicks/{clickid}").json()
    assert click["test"] is True


def test_a_wrong_postback_turns_the_test_invalid_with_its_reason(
    api: httpx.Client, http: httpx.Client
) -> None:
    campaign, network = setup(api)
    clickid = make_test(api, campaign)["clickid"]
    filled = network["postback_url"].replace("{aff_sub}", clickid).replace("{payout}", "1")
    wrong_token = filled.replace("{transaction_id}", "T1").replace("s3cr3t", "guess")
    assert http.get(wrong_token).status_code == 403
    invalid = status_of(api, clickid)
    assert (invalid["status"], invalid["reason"]) == ("INVALID", "bad_token")
    unfilled = f"/postback/{network['key']}?clickid={{aff_sub}}&token=s3cr3t"
    assert http.get(unfilled).status_code == 400
    assert status_of(api, clickid)["reason"] == "placeholder_value"


def test_only_test_clicks_have_a_status(api: httpx.Client) -> None:
    resp = api.get("/api/v1/integrations/test-conversions/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert resp.status_code == 404
