"""The postback lab: a dry-run replay of a logged postback, and a click's whole story."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from postback.kit.ids import new_id
from postback.models import (
    Click,
    Conversion,
    ConversionStatusChange,
    Delivery,
    PostbackLogEntry,
)
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

TABLES = (Conversion, ConversionStatusChange, Delivery, PostbackLogEntry)


def counts(live: LiveServer) -> dict[str, int]:
    with live.runtime.db.session() as s:
        return {t.__name__: s.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES}


def last_log_id(api: httpx.Client) -> str:
    entry_id: str = api.get("/api/v1/postback-log", params={"limit": 1}).json()["items"][0]["id"]
    return entry_id


def replay(api: httpx.Client, entry_id: str) -> dict[str, Any]:
    resp = api.post(f"/api/v1/postback-log/{entry_id}/replay")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def verdicts(result: dict[str, Any]) -> dict[str, str]:
    # A step is listed once, unless its second run (authenticate) refused: keep the last.
    return {s["step"]: s["verdict"] for s in result["steps"]}


def store_click(live: LiveServer, setup: Setup, clickid: str) -> None:
    with live.runtime.db.session() as s:
        s.add(
            Click(
                id=clickid,
                created_at=datetime.now(UTC),
                campaign_id=setup.campaign_id,
                offer_id=setup.offer_id,
                traffic_source_id=setup.source_id,
                tokens={},
            )
        )


def test_an_unknown_click_replayed_once_the_click_exists_would_be_accepted(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    clickid = new_id()
    resp = http.get(setup.postback, params=setup.with_token({"clickid": clickid, "payout": "2"}))
    assert resp.status_code == 404
    entry_id = last_log_id(api)
    before = replay(api, entry_id)
    assert (before["outcome"], before["would_create_conversion"]) == ("unknown_click", False)
    assert verdicts(before)["find_click"] == "refused"
    assert verdicts(before)["record_conversion"] == "skipped"
    store_click(live, setup, clickid)
    after = replay(api, entry_id)
    assert (after["outcome"], after["would_create_conversion"]) == ("accepted", True)
    # The token is masked in the log, so its check is skipped; everything else passes.
    steps = verdicts(after)
    assert steps.pop("authenticate.token") == "skipped"
    assert set(steps.values()) == {"pass"}
    assert after["steps"][0]["step"] == "receive"
    assert after["steps"][-1] == {
        "step": "record_conversion",
        "verdict": "pass",
        "reason": "accepted",
        "detail": None,
    }


def test_a_bad_token_replay_skips_the_token_check_but_not_the_rest(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live, network={"secret": "s3cret"})
    cid = click(http, setup)
    url = setup.postback
    assert http.get(url, params={"clickid": cid, "token": "guess"}).status_code == 403
    result = replay(api, last_log_id(api))
    [token] = [s for s in result["steps"] if s["step"] == "authenticate.token"]
    assert token["verdict"] == "skipped"
    assert "***" in token["detail"]
    assert result["outcome"] == "accepted"
    # A postback that sent no token at all is still refused: nothing was masked.
    assert http.get(url, params={"clickid": cid}).status_code == 403
    missing = replay(api, last_log_id(api))
    assert missing["outcome"] == "bad_token"
    assert verdicts(missing)["authenticate"] == "refused"


def test_the_ip_allowlist_is_checked_again_from_the_logged_address(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live, network={"allowed_ips": ["10.0.0.0/8"]})
    cid = click(http, setup)
    assert http.get(f"{setup.postback}&clickid={cid}").status_code == 403
    result = replay(api, last_log_id(api))
    assert result["outcome"] == "ip_not_allowed"
    assert "127.0.0.1" in result["detail"]


def test_a_replay_writes_nothing_and_sees_what_is_already_recorded(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    source = {"postback_url": "http://127.0.0.1:9/pb?c={clickid}"}
    setup = make_setup(live, network={"signing_secret": "k3y"}, source=source)
    cid = click(http, setup)
    # Unsigned: refused live; the replay cannot check a signature it does not have.
    assert http.post(setup.postback, data={"clickid": cid}).status_code == 403
    entry_id = last_log_id(api)
    before = counts(live)
    result = replay(api, entry_id)
    assert (result["outcome"], result["would_create_conversion"]) == ("accepted", True)
    assert verdicts(result)["authenticate.signature"] == "skipped"
    assert counts(live) == before
    assert counts(live)["Conversion"] == 0


def test_a_replay_of_an_accepted_postback_says_duplicate(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    body = {"clickid": cid, "payout": "1.5"}
    assert http.post(setup.postback, json=body).status_code == 200
    result = replay(api, last_log_id(api))
    assert (result["outcome"], result["would_create_conversion"]) == ("duplicate", False)


def test_replay_of_an_unroutable_request_and_unknown_entries(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    assert http.get("/postback/a/b").status_code == 404
    result = replay(api, last_log_id(api))
    assert result["steps"][0] == {
        "step": "receive",
        "verdict": "refused",
        "reason": "unknown_network",
        "detail": "/postback/a/b is not a postback URL",
    }
    assert api.post("/api/v1/postback-log/01ARZ3NDEKTSV4RRFFQ69G5FAV/replay").status_code == 404
    assert api.post("/api/v1/postback-log/nope/replay").status_code == 404
    live_run = api.post(f"/api/v1/postback-log/{last_log_id(api)}/replay?dry_run=false")
    assert live_run.status_code == 400


def test_explain_tells_a_clicks_whole_story(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    source = {"postback_url": "http://127.0.0.1:9/pb?c={clickid}&s={status}"}
    setup = make_setup(live, source=source)
    cid = click(http, setup, sub1="banner")
    url, token = setup.postback, setup.token or ""
    pending = {"clickid": cid, "status": "pending", "token": token}
    assert http.get(url, params=pending).status_code == 200
    approved = {"clickid": cid, "status": "approved", "token": token}
    assert http.get(url, params=approved).text == "OK updated\n"
    assert http.get(url, params={"clickid": "{clickid}"}).status_code == 400  # not this click
    data = api.get(f"/api/v1/clicks/{cid.lower()}/explain").json()
    assert data["click"]["clickid"] == cid
    assert data["click"]["campaign"]["id"] == setup.campaign_id
    assert data["click"]["offer"]["id"] == setup.offer_id
    [conversion] = data["conversions"]
    assert conversion["status"] == "approved"
    assert [(h["from_status"], h["to_status"]) for h in conversion["history"]] == [
        (None, "pending"),
        ("pending", "approved"),
    ]
    assert [p["reason"] for p in data["postbacks"]] == ["accepted", "updated"]
    [delivery] = data["deliveries"]
    assert (delivery["conversion_id"], delivery["attempt_log"]) == (conversion["id"], [])
    assert api.get(f"/api/v1/clicks/{new_id()}/explain").status_code == 404
    assert api.get("/api/v1/clicks/junk%00/explain").status_code == 404
