"""Inbound postbacks over real HTTP: parsing, aliases, reason codes, money, the log."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from postback.models import Conversion, ConversionStatusChange, Delivery, PostbackLogEntry
from tests.conftest import LiveServer
from tests.factories import click, make_setup


def conversions(live: LiveServer) -> list[Conversion]:
    with live.runtime.db.session() as s:
        return list(s.scalars(select(Conversion)).all())


def log_rows(live: LiveServer) -> list[PostbackLogEntry]:
    with live.runtime.db.session() as s:
        return list(s.scalars(select(PostbackLogEntry).order_by(PostbackLogEntry.id)).all())


def test_postback_records_one_conversion_with_its_ledger_and_log(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    resp = http.get(
        setup.postback,
        params=setup.with_token({"clickid": cid, "payout": "1.25", "txid": "T1", "sub7": "x"}),
    )
    assert resp.status_code == 200
    assert resp.text.startswith("OK accepted ")
    conversion_id = resp.text.split()[2]
    [conv] = conversions(live)
    assert conv.id == conversion_id
    assert (conv.payout_micros, conv.revenue_micros) == (1_250_000, 1_250_000)
    assert (conv.status, conv.event, conv.txid) == ("approved", "conversion", "T1")
    assert conv.params == {"sub7": "x"}
    with live.runtime.db.session() as s:
        [change] = s.scalars(select(ConversionStatusChange)).all()
    assert (change.from_status, change.to_status, change.revenue_delta_micros) == (
        None,
        "approved",
        1_250_000,
    )
    [entry] = log_rows(live)
    assert (entry.outcome, entry.reason, entry.conversion_id) == ("accepted", "accepted", conv.id)
    assert entry.parsed["clickid"] == cid


def test_repeat_postback_answers_duplicate_and_counts_once(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    url = f"{setup.postback}&cid={cid}&payout=2"
    assert http.get(url).text.startswith("OK accepted")
    assert http.get(url).text.strip() == "OK duplicate"
    # In the default mode a new txid on the same click and event is still the same conversion.
    assert http.get(url + "&txid=other").text.strip() == "OK duplicate"
    assert len(conversions(live)) == 1
    assert [e.reason for e in log_rows(live)] == ["accepted", "duplicate", "duplicate"]


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ("payout=1", 400, "missing_clickid"),
        ("clickid=&payout=1", 400, "missing_clickid"),
        ("clickid={clickid}", 400, "placeholder_value"),
        ("clickid=${SUBID}", 400, "placeholder_value"),
        ("clickid=%23%23SUB_ID%23%23", 400, "placeholder_value"),
        ("clickid=@CID&payout={payout}", 400, "placeholder_value"),
        ("clickid=@CID&payout=abc", 400, "invalid_payout"),
        ("clickid=@CID&payout=-1", 400, "invalid_payout"),
        ("clickid=@CID&payout=NaN", 400, "invalid_payout"),
        ("clickid=@CID&currency=XXX", 400, "invalid_currency"),
        ("clickid=@CID&status=weird", 400, "invalid_status"),
        ("clickid=@CID&event=no%20spaces", 400, "invalid_event"),
        ("clickid=01ARZ3NDEKTSV4RRFFQ69G5FAV", 404, "unknown_click"),
        ("clickid=not-a-click-id", 404, "unknown_click"),
    ],
)
def test_refusals_have_status_reason_and_a_log_row(
    live: LiveServer, http: httpx.Client, query: str, status: int, reason: str
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    query = query.replace("@CID", cid)
    resp = http.get(f"{setup.postback}&{query}")
    assert resp.status_code == status, resp.text
    assert resp.text.startswith(f"ERROR {reason}:")
    assert conversions(live) == []
    [entry] = log_rows(live)
    assert (entry.outcome, entry.reason, entry.http_status) == ("refused", reason, status)


def test_refusals_answer_json_when_asked(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    resp = http.get(setup.postback, headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["error"] == "missing_clickid"
    cid = click(http, setup)
    resp = http.get(f"{setup.postback}&clickid={cid}", headers={"Accept": "application/json"})
    assert resp.json() == {"result": "accepted", "conversion_id": conversions(live)[0].id}


def test_unknown_network_key_and_non_postback_method(live: LiveServer, http: httpx.Client) -> None:
    resp = http.get("/postback/nosuchkey?clickid=x")
    assert (resp.status_code, resp.text.split(":")[0]) == (404, "ERROR unknown_network")
    resp = http.put("/postback", content=b"clickid=x")
    assert resp.status_code == 405
    assert [e.reason for e in log_rows(live)] == ["unknown_network", "method_not_allowed"]


def test_secret_token_is_required_and_never_logged(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live, network={"secret": "s3cret"})
    cid = click(http, setup)
    base = f"/postback/{setup.network_key}?clickid={cid}"
    assert http.get(base).status_code == 403
    assert http.get(base + "&token=wrong").text.startswith("ERROR bad_token")
    # The plain /postback path finds the network through the click, and checks it too.
    assert http.get(f"/postback?clickid={cid}").status_code == 403
    assert http.get(base + "&key=s3cret").text.startswith("OK accepted")
    for entry in log_rows(live):
        assert "s3cret" not in entry.query and "token" not in entry.parsed


def test_ip_allowlist_accepts_cidr_and_refuses_others(live: LiveServer, http: httpx.Client) -> None:
    refused = make_setup(live, network={"allowed_ips": ["10.0.0.0/8"]})
    cid = click(http, refused)
    resp = http.get(f"{refused.postback}&clickid={cid}")
    assert (resp.status_code, resp.text.split(":")[0]) == (403, "ERROR ip_not_allowed")
    allowed = make_setup(live, network={"allowed_ips": ["10.0.0.0/8", "127.0.0.0/24"]})
    cid = click(http, allowed)
    assert http.get(f"{allowed.postback}&clickid={cid}").status_code == 200


def test_postback_outside_the_lookback_window_is_refused(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, network={"lookback_days": 0})
    cid = click(http, setup)
    resp = http.get(f"{setup.postback}&clickid={cid}")
    assert (resp.status_code, resp.text.split(":")[0]) == (410, "ERROR outside_window")


def test_post_form_and_json_bodies(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    first, second = click(http, setup), click(http, setup)
    url = setup.postback
    assert http.post(url, data={"click_id": first, "amount": "3"}).status_code == 200
    resp = http.post(url, json={"clickId": second, "revenue": 4.5, "goal": "Install"})
    assert resp.status_code == 200, resp.text
    by_click = {c.click_id: c for c in conversions(live)}
    assert by_click[first].payout_micros == 3_000_000
    assert (by_click[second].payout_micros, by_click[second].event) == (4_500_000, "Install")
    bad = http.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert (bad.status_code, bad.text.split(":")[0]) == (400, "ERROR invalid_body")
    big = http.post(url, content=b"a=" + b"x" * 70_000)
    assert big.status_code == 413


def test_adsterra_compatible_paths(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    usd, eur = click(http, setup), click(http, setup)
    key, token = setup.network_key, setup.token
    assert http.get(f"/name/{key}/at?subid_short={usd}&atpay=0.5&token={token}").status_code == 200
    resp = http.get(f"/code/eur/{key}/at?subid_short={eur}&atpay=10&token={token}")
    assert resp.status_code == 200
    by_click = {c.click_id: c for c in conversions(live)}
    assert (by_click[usd].payout_micros, by_click[usd].original_currency) == (500_000, "USD")
    converted = by_click[eur]
    assert converted.original_currency == "EUR"
    assert converted.original_amount == "10"
    rate = Decimal(converted.fx_rate)
    assert Decimal("0.5") < rate < Decimal("2")
    assert converted.fx_date is not None
    assert converted.payout_micros == int((Decimal(10) * rate * 1_000_000).to_integral_value())


def test_payout_defaults_to_the_offer_and_commission_from_com_or_comperc(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, offer={"payout_micros": 7_000_000})
    a, b, c = click(http, setup), click(http, setup), click(http, setup)
    url = setup.postback
    http.get(f"{url}&clickid={a}")
    http.get(f"{url}&clickid={b}&val=10&comperc=15")
    http.get(f"{url}&clickid={c}&val=10&com=2&comperc=15")
    got = {x.click_id: (x.payout_micros, x.commission_micros) for x in conversions(live)}
    assert got == {a: (7_000_000, 0), b: (10_000_000, 1_500_000), c: (10_000_000, 2_000_000)}


def test_network_aliases_and_status_map(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(
        live, network={"aliases": {"tid": "clickid", "p": "payout"}, "status_map": {"9": "pending"}}
    )
    cid = click(http, setup)
    resp = http.get(f"{setup.postback}&tid={cid}&p=3&status=9")
    assert resp.status_code == 200, resp.text
    [conv] = conversions(live)
    assert (conv.payout_micros, conv.status, conv.revenue_micros) == (3_000_000, "pending", 0)


def test_conversion_on_a_test_click_is_flagged_and_not_delivered(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, source={"postback_url": "https://src.test/pb?id={external_id}"})
    real = click(http, setup, subid="ext-9")
    test_click = _test_click(live, setup.campaign_key, setup.offer_id)
    http.get(f"{setup.postback}&clickid={real}&payout=1")
    http.get(f"{setup.postback}&clickid={test_click}&payout=1")
    flags = {c.click_id: c.is_test for c in conversions(live)}
    assert flags == {real: False, test_click: True}
    with live.runtime.db.session() as s:
        [delivery] = s.scalars(select(Delivery)).all()
    assert delivery.url == "https://src.test/pb?id=ext-9"
    assert delivery.state == "pending"


def _test_click(live: LiveServer, campaign_key: str, offer_id: int) -> str:
    from datetime import UTC, datetime

    from postback.kit.ids import new_click_id
    from postback.models import Campaign, Click

    with live.runtime.db.session() as s:
        camp = s.scalars(select(Campaign).where(Campaign.key == campaign_key)).one()
        cid = new_click_id()
        s.add(
            Click(
                id=cid,
                created_at=datetime.now(UTC),
                campaign_id=camp.id,
                offer_id=offer_id,
                traffic_source_id=camp.traffic_source_id,
                is_test=True,
            )
        )
    return cid


def _sign(secret: str, timestamp: int, query: str, body: str = "") -> dict[str, str]:
    import hashlib
    import hmac

    digest = hmac.new(
        secret.encode(), f"{timestamp}.{query}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {"X-Postback-Signature": f"sha256={digest}", "X-Postback-Timestamp": str(timestamp)}


def test_signed_postbacks_need_a_fresh_matching_signature(
    live: LiveServer, http: httpx.Client
) -> None:
    import time

    # A network authenticated by its signature alone: it opted out of the token.
    setup = make_setup(live, network={"signing_secret": "k3y", "secret": None})
    cid = click(http, setup)
    query = f"clickid={cid}&payout=2"
    url = f"/postback/{setup.network_key}?{query}"
    now = int(time.time())
    cases = [
        ({}, 403),
        (_sign("wrong", now, query), 403),
        (_sign("k3y", now - 3600, query), 403),  # a replay from an hour ago
        (_sign("k3y", now, query + "&payout=200"), 403),  # signed another query
    ]
    for headers, status in cases:
        resp = http.get(url, headers=headers)
        assert (resp.status_code, resp.text.split(":")[0]) == (status, "ERROR bad_signature")
    assert http.get(url, headers=_sign("k3y", now, query)).text.startswith("OK accepted")


def test_rate_limit_refuses_with_429_and_logs_it(live: LiveServer, http: httpx.Client) -> None:
    from postback.kit.ratelimit import RateLimiter

    original = live.runtime.postback_limiter
    live.runtime.postback_limiter = RateLimiter(per_second=0.001, burst=2)
    try:
        codes = [http.get("/postback?clickid=x").status_code for _ in range(3)]
    finally:
        live.runtime.postback_limiter = original
    assert codes == [404, 404, 429]
    # IDs made in one millisecond are not ordered among themselves: compare as a multiset.
    reasons = sorted(e.reason for e in log_rows(live))
    assert reasons == ["rate_limited", "unknown_click", "unknown_click"]


def test_secrets_under_aliases_or_in_json_bodies_are_masked_in_the_log(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, network={"secret": "s3cret-value", "aliases": {"pw": "token"}})
    cid = click(http, setup)
    url = f"/postback/{setup.network_key}"
    assert http.get(url, params={"clickid": cid, "pw": "s3cret-value"}).status_code == 200
    assert http.post(url, json={"clickid": cid, "token": "s3cret-value"}).status_code == 200
    assert http.post(url, json={"clickid": cid, "token": "wrong-guess"}).status_code == 403
    for entry in log_rows(live):
        assert "s3cret-value" not in entry.query + entry.body
        assert "wrong-guess" not in entry.query + entry.body
