"""Read APIs: conversions with their status history, and the postback log; keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ulid import ULID

from postback.models import Conversion, ConversionStatusChange, PostbackLogEntry
from tests.conftest import LiveServer

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ulid_at(when: datetime) -> str:
    return str(ULID.from_datetime(when))


def add_conversion(live: LiveServer, minutes: int, **columns: Any) -> str:
    when = at(minutes)
    row: dict[str, Any] = {
        "id": ulid_at(when),
        "click_id": ulid_at(when - timedelta(hours=1)),
        "dedupe_key": "",
        "created_at": when,
        "updated_at": when,
        "click_at": when - timedelta(hours=1),
        "campaign_id": 1,
        "traffic_source_id": 1,
        "event": "conversion",
        "status": "approved",
        "payout_micros": 1_500_000,
        "revenue_micros": 1_500_000,
        "original_amount": "1.50",
        "original_currency": "USD",
        "fx_rate": "1",
        **columns,
    }
    with live.runtime.db.session() as s:
        s.add(Conversion(**row))
    return str(row["id"])


def add_log_entry(live: LiveServer, minutes: int, **columns: Any) -> str:
    when = at(minutes)
    row: dict[str, Any] = {
        "id": ulid_at(when),
        "received_at": when,
        "source_ip": "203.0.113.9",
        "method": "GET",
        "path": "/postback",
        "query": "clickid=x&payout=1",
        "body": "",
        "parsed": {"clickid": "x", "payout": "1"},
        "outcome": "accepted",
        "reason": "accepted",
        "http_status": 200,
        **columns,
    }
    with live.runtime.db.session() as s:
        s.add(PostbackLogEntry(**row))
    return str(row["id"])


def all_pages(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = dict(params)
    for _ in range(50):
        page = api.get(path, params=query)
        assert page.status_code == 200, page.text
        items.extend(page.json()["items"])
        if page.json()["next"] is None:
            return items
        query["cursor"] = page.json()["next"]
    raise AssertionError("pagination did not end")


# --- conversions -------------------------------------------------------------------------------


def test_conversions_list_newest_first_in_keyset_pages(live: LiveServer, api: httpx.Client) -> None:
    ids = [add_conversion(live, m) for m in range(7)]
    first = api.get("/api/v1/conversions", params={"limit": 3}).json()
    assert [c["id"] for c in first["items"]] == ids[::-1][:3]
    assert first["next"]
    assert [c["id"] for c in all_pages(api, "/api/v1/conversions", limit=3)] == ids[::-1]
    assert api.get("/api/v1/conversions", params={"limit": 7}).json()["next"] is None


def test_a_conversion_item_has_money_as_strings(live: LiveServer, api: httpx.Client) -> None:
    add_conversion(live, 0, commission_micros=250_000, txid="T-1", params={"sub1": "a"})
    item = api.get("/api/v1/conversions").json()["items"][0]
    assert item["payout"] == "1.5" and item["revenue"] == "1.5"
    assert item["commission"] == "0.25" and item["currency"] == "USD"
    assert item["txid"] == "T-1" and item["params"] == {"sub1": "a"}
    assert item["created_at"].startswith("2026-03-01T12:00:00")
    assert item["test"] is False


def test_conversions_filter_by_campaign_status_time_and_click(
    live: LiveServer, api: httpx.Client
) -> None:
    a = add_conversion(live, 0, campaign_id=1)
    b = add_conversion(live, 10, campaign_id=2, status="pending")
    c = add_conversion(live, 20, campaign_id=2, is_test=True)

    def ids(**params: Any) -> list[str]:
        return [item["id"] for item in all_pages(api, "/api/v1/conversions", **params)]

    assert ids(campaign_id=2) == [c, b]
    assert ids(status="pending") == [b]
    assert ids(test=True) == [c]
    assert ids(**{"from": at(10).isoformat()}) == [c, b]
    assert ids(to=at(10).isoformat()) == [a]
    assert ids(**{"from": "2026-03-01T14:05:00+02:00", "to": "2026-03-01T12:15:00Z"}) == [b]
    assert ids(**{"from": "2026-03-02"}) == []
    clickid = api.get(f"/api/v1/conversions/{b}").json()["clickid"]
    assert ids(clickid=clickid.lower()) == [b]


def test_one_conversion_comes_with_its_status_history(live: LiveServer, api: httpx.Client) -> None:
    conversion_id = add_conversion(live, 0, status="refunded", revenue_micros=0)
    changes = [
        (None, "approved", 1_500_000),
        ("approved", "refunded", -1_500_000),
    ]
    with live.runtime.db.session() as s:
        for n, (old, new, delta) in enumerate(changes):
            s.add(
                ConversionStatusChange(
                    conversion_id=conversion_id,
                    at=at(n),
                    from_status=old,
                    to_status=new,
                    payout_delta_micros=delta,
                    revenue_delta_micros=delta,
                )
            )
    detail = api.get(f"/api/v1/conversions/{conversion_id}").json()
    assert detail["status"] == "refunded" and detail["revenue"] == "0"
    history = detail["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "approved"),
        ("approved", "refunded"),
    ]
    assert [h["revenue_delta"] for h in history] == ["1.5", "-1.5"]


def test_an_unknown_conversion_is_404(api: httpx.Client) -> None:
    for conversion_id in (ulid_at(T0), "nope"):
        resp = api.get(f"/api/v1/conversions/{conversion_id}")
        assert resp.status_code == 404 and resp.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "1"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "many"},
        {"status": "paid"},
        {"from": "yesterday"},
        {"campaign_id": "x"},
        {"campaign_id": 10**12},
        {"clickid": "c" * 27},
    ],
)
def test_bad_conversion_filters_are_422(api: httpx.Client, params: dict[str, Any]) -> None:
    resp = api.get("/api/v1/conversions", params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"


# --- postback log ------------------------------------------------------------------------------


def test_the_postback_log_lists_newest_first_and_filters(
    live: LiveServer, api: httpx.Client
) -> None:
    ok = add_log_entry(live, 0, network_id=3, click_id="ABC")
    dup = add_log_entry(live, 1, network_id=3, outcome="duplicate", reason="duplicate")
    refused = add_log_entry(
        live, 2, outcome="refused", reason="unknown_click", http_status=404, click_id="{clickid}"
    )

    def ids(**params: Any) -> list[str]:
        return [item["id"] for item in all_pages(api, "/api/v1/postback-log", **params)]

    assert ids() == [refused, dup, ok]
    assert ids(limit=1) == [refused, dup, ok]
    assert ids(network_id=3) == [dup, ok]
    assert ids(outcome="refused") == [refused]
    assert ids(reason="duplicate") == [dup]
    assert ids(clickid="{clickid}") == [refused]
    assert ids(**{"from": at(1).isoformat(), "to": at(2).isoformat()}) == [dup]
    # Logged (its id made) well after it arrived, as when the writer waited for the lock: the
    # time filter goes by received_at, not by the id's own time.
    late = add_log_entry(live, 3, id=ulid_at(at(3) + timedelta(seconds=40)))
    assert ids(**{"from": at(3).isoformat(), "to": (at(3) + timedelta(seconds=1)).isoformat()}) == [
        late
    ]


def test_one_log_entry_shows_the_raw_request(live: LiveServer, api: httpx.Client) -> None:
    conversion_id = ulid_at(T0)
    entry_id = add_log_entry(live, 0, body='{"clickid": "x"}', conversion_id=conversion_id)
    entry = api.get(f"/api/v1/postback-log/{entry_id}").json()
    assert entry["query"] == "clickid=x&payout=1"
    assert entry["body"] == '{"clickid": "x"}'
    assert entry["parsed"] == {"clickid": "x", "payout": "1"}
    assert entry["source_ip"] == "203.0.113.9" and entry["http_status"] == 200
    assert entry["conversion_id"] == conversion_id
    missing = api.get(f"/api/v1/postback-log/{ulid_at(at(99))}")
    assert missing.status_code == 404
    assert api.get("/api/v1/postback-log/%20").status_code == 404


def test_bad_log_filters_are_422(api: httpx.Client) -> None:
    for params in ({"cursor": "x"}, {"network_id": 0}, {"to": "soon"}, {"outcome": "o" * 13}):
        assert api.get("/api/v1/postback-log", params=params).status_code == 422, params
