"""Admin API and dashboard query values that once made a 500: Unicode digits, numbers past
int()'s digit limit, lower-case click IDs."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer

LOTS_OF_DIGITS = "9" * 5000


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "²"},
        {"offset": "²"},
        {"offset": LOTS_OF_DIGITS},
        {"campaign": "²"},
        {"limit": "٣"},  # an Arabic-Indic three: int() would read it, the API does not
    ],
)
def test_report_numbers_must_be_ascii_digits(api: httpx.Client, params: dict[str, str]) -> None:
    query = {"from": "2026-01-01", "to": "2026-01-02", **params}
    resp = api.get("/api/v1/reports", params=query)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"


def test_a_cursor_past_the_digit_limit_is_a_422(api: httpx.Client) -> None:
    resp = api.get("/api/v1/traffic-sources", params={"cursor": LOTS_OF_DIGITS})
    assert resp.status_code == 422, resp.text


def test_the_dashboard_report_page_number_past_the_digit_limit_is_no_500(
    live: LiveServer,
) -> None:
    with httpx.Client(base_url=live.url) as client:
        resp = client.get("/reports", params={"page": LOTS_OF_DIGITS})
    assert resp.status_code < 500


def test_a_test_conversion_is_found_by_its_lower_case_click_id(api: httpx.Client) -> None:
    source = api.post("/api/v1/traffic-sources", json={"name": "s"}).json()
    offer = api.post("/api/v1/offers", json={"name": "o", "url": "https://o.test/?s={clickid}"})
    body = {
        "name": "c",
        "traffic_source_id": source["id"],
        "offers": [{"offer_id": offer.json()["id"]}],
    }
    campaign = api.post("/api/v1/campaigns", json=body).json()
    made = api.post("/api/v1/integrations/test-conversions", json={"campaign_id": campaign["id"]})
    clickid = made.json()["clickid"]
    resp = api.get(f"/api/v1/integrations/test-conversions/{clickid.lower()}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["clickid"] == clickid
    resp = api.get(f"/api/v1/clicks/{clickid.lower()}")
    assert (resp.status_code, resp.json()["clickid"]) == (200, clickid)
