"""Who may convert a click: the network that owns the click's offer, with its own credentials,
on every postback path and every way of sending one; a signature counts once."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from postback.app import PostbackApp
from postback.conversions import signatures
from postback.conversions.receiver import PostbackJob
from postback.conversions.records import PostbackRequest
from postback.kit.ids import new_click_id
from postback.models import Click, Conversion, Offer, PostbackLogEntry, SeenSignature
from tests.conftest import LiveServer, free_port
from tests.factories import Setup, click, make_setup

PATHS = ["/postback", "/postback/{key}", "/name/{key}/at", "/code/EUR/{key}/at"]
SENDS = ["get", "form", "json"]


def conversions(live: LiveServer) -> list[Conversion]:
    with live.runtime.db.session() as s:
        return list(s.scalars(select(Conversion)).all())


def send(
    http: httpx.Client, how: str, path: str, key: str, params: dict[str, str]
) -> httpx.Response:
    url = path.format(key=key)
    if path.startswith(("/name/", "/code/")):  # Adsterra's names for the click ID and payout
        params = {"subid_short": params.pop("clickid"), "atpay": params.pop("payout"), **params}
    if how == "get":
        return http.get(url, params=params)
    if how == "form":
        return http.post(url, data=params)
    return http.post(url, json=params)


def reason(resp: httpx.Response) -> tuple[int, str]:
    return resp.status_code, resp.text.split(":")[0].removeprefix("ERROR ").strip()


@pytest.mark.parametrize("how", SENDS)
@pytest.mark.parametrize("path", PATHS)
def test_only_the_clicks_own_network_with_its_own_token_converts_it(
    live: LiveServer, http: httpx.Client, path: str, how: str
) -> None:
    ours, theirs = make_setup(live), make_setup(live)
    assert ours.token and theirs.token
    cid = click(http, ours)
    base = {"clickid": cid, "payout": "10"}
    refusals = [
        (ours.network_key, {}, "bad_token"),  # no credential
        (ours.network_key, {"token": "guess-" + ours.token}, "bad_token"),  # a wrong one
        (ours.network_key, {"token": theirs.token}, "bad_token"),  # another network's token
    ]
    if "{key}" in path:
        # Another network's URL with its own, right, token: still not its click.
        refusals.append((theirs.network_key, {"token": theirs.token}, "wrong_network"))
    for key, credential, expected in refusals:
        resp = send(http, how, path, key, {**base, **credential})
        assert reason(resp) == (403, expected), (key, credential, resp.text)
    assert conversions(live) == []
    resp = send(http, how, path, ours.network_key, {**base, "token": ours.token})
    assert resp.status_code == 200 and resp.text.startswith("OK accepted"), resp.text
    [conversion] = conversions(live)
    assert (conversion.click_id, conversion.network_id) == (cid, ours.network_id)
    with live.runtime.db.session() as s:
        logged = [e.reason for e in s.scalars(select(PostbackLogEntry))]
    assert sorted(logged) == sorted([r for _, _, r in refusals] + ["accepted"])


def test_another_networks_key_never_skips_the_clicks_network_checks(
    live: LiveServer, http: httpx.Client
) -> None:
    """The reported bypass: B refuses an IP outside its allowlist; A's key must not let the
    same postback through onto B's offer."""
    a = make_setup(live, network={"secret": None})  # A even needs no token
    b = make_setup(live, network={"allowed_ips": ["10.0.0.0/8"]})
    cid = click(http, b)
    direct = http.get(b.postback, params=b.with_token({"clickid": cid, "payout": "5"}))
    assert reason(direct) == (403, "ip_not_allowed")
    through_a = http.get(f"/postback/{a.network_key}", params={"clickid": cid, "payout": "5"})
    assert reason(through_a) == (403, "wrong_network")
    assert conversions(live) == []


def test_the_plain_path_takes_the_clicks_network_and_needs_its_token(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    """The quickstart's own setup, made through the API: no key in the path, no token."""
    network = api.post("/api/v1/networks", json={"name": "N"}).json()
    offer = api.post(
        "/api/v1/offers",
        json={"name": "o", "url": "https://o.test/?c={clickid}", "network_id": network["id"]},
    ).json()
    source = api.post("/api/v1/traffic-sources", json={"name": "s"}).json()
    campaign = api.post(
        "/api/v1/campaigns",
        json={
            "name": "c",
            "traffic_source_id": source["id"],
            "offers": [{"offer_id": offer["id"]}],
        },
    ).json()
    landing = http.get(f"/c/{campaign['key']}").headers["location"]
    cid = landing.split("c=")[1]
    assert reason(http.get(f"/postback?clickid={cid}&payout=999")) == (403, "bad_token")
    filled = network["postback_url"].replace("{clickid}", cid).replace("{payout}", "2")
    filled = filled.replace("{txid}", "t1")
    assert httpx.get(filled).text.startswith("OK accepted")


def test_a_network_that_opted_out_of_the_token_works_and_is_flagged(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    made = api.post("/api/v1/networks", json={"name": "Open", "no_secret": True})
    assert made.status_code == 201, made.text
    network = made.json()
    assert network["secret"] is None and "token=" not in network["postback_url"]
    assert network["insecure"] is True
    assert "no secret token" in network["warnings"][0]
    listed = api.get("/api/v1/networks").json()["items"]
    assert [n["insecure"] for n in listed] == [True]
    both = api.post("/api/v1/networks", json={"name": "x", "secret": "abcd", "no_secret": True})
    assert both.status_code == 422
    # An existing network without a secret (the opt-out of the test factory) keeps working.
    setup = make_setup(live, network={"secret": None})
    cid = click(http, setup)
    assert http.get(f"/postback?clickid={cid}").text.startswith("OK accepted")
    # A signing secret alone authenticates too: no warning then.
    signed = api.patch(f"/api/v1/networks/{network['id']}", json={"signing_secret": "k3y"})
    assert (signed.json()["insecure"], signed.json()["warnings"]) == (False, [])


def _offer_without_network(live: LiveServer, setup: Setup) -> int:
    with live.runtime.db.session() as s:
        offer = Offer(name="direct", url="https://direct.test/?c={clickid}", network_id=None)
        s.add(offer)
        s.flush()
        return offer.id


def _stored_click(live: LiveServer, setup: Setup, offer_id: int, age: timedelta) -> str:
    cid = new_click_id()
    with live.runtime.db.session() as s:
        s.add(
            Click(
                id=cid,
                created_at=datetime.now(UTC) - age,
                campaign_id=setup.campaign_id,
                offer_id=offer_id,
                traffic_source_id=setup.source_id,
            )
        )
    return cid


@pytest.mark.parametrize("age_days", [400, 0])
def test_a_click_whose_offer_has_no_network_is_never_converted_by_a_postback(
    live: LiveServer, http: httpx.Client, api: httpx.Client, age_days: int
) -> None:
    setup = make_setup(live)
    cid = _stored_click(live, setup, _offer_without_network(live, setup), timedelta(age_days))
    assert reason(http.get(f"/postback?clickid={cid}&payout=50")) == (403, "no_network")
    # Another network's key and token do not adopt it either.
    keyed = http.get(setup.postback, params=setup.with_token({"clickid": cid, "payout": "50"}))
    assert reason(keyed) == (403, "no_network")
    assert conversions(live) == []
    # An admin may still record it; the default 30-day lookback holds there too.
    manual = api.post("/api/v1/conversions", json={"clickid": cid, "payout": "5"})
    if age_days > 30:
        assert (manual.status_code, manual.json()["error"]) == (409, "outside_window")
        manual = api.post(
            "/api/v1/conversions", json={"clickid": cid, "payout": "5", "ignore_window": True}
        )
    assert manual.status_code == 201, manual.text


def _sign(secret: str, timestamp: int, query: str, body: str = "") -> dict[str, str]:
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{query}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {"X-Postback-Signature": f"sha256={digest}", "X-Postback-Timestamp": str(timestamp)}


def _signed_setup(live: LiveServer) -> Setup:
    return make_setup(live, network={"signing_secret": "k3y", "duplicate_mode": "accumulate"})


def _revenue(live: LiveServer) -> list[int]:
    return [c.payout_micros for c in conversions(live)]


def test_a_replayed_signature_is_refused_and_adds_nothing(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = _signed_setup(live)
    cid = click(http, setup)
    url = f"/postback/{setup.network_key}"
    query = f"clickid={cid}&payout=10&token={setup.token}"
    now = int(time.time())
    headers = _sign("k3y", now, query)
    assert http.get(f"{url}?{query}", headers=headers).text.startswith("OK accepted")
    for _ in range(4):
        again = http.get(f"{url}?{query}", headers=headers)
        assert reason(again) == (403, "replayed_signature")
    assert _revenue(live) == [10_000_000]
    # A POST body is signed the same way, and is single-use too.
    body = f"clickid={cid}&payout=1&token={setup.token}"
    form = {"Content-Type": "application/x-www-form-urlencoded", **_sign("k3y", now, "", body)}
    assert http.post(url, content=body, headers=form).text.strip() == "OK updated"
    assert reason(http.post(url, content=body, headers=form)) == (403, "replayed_signature")
    # The network re-signs a retry (a new timestamp): that one is new, and accumulates.
    fresh = _sign("k3y", now - 1, query)
    assert http.get(f"{url}?{query}", headers=fresh).text.strip() == "OK updated"
    assert _revenue(live) == [21_000_000]


def test_a_signature_counts_once_across_two_servers_on_one_database(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = _signed_setup(live)
    cid, other = click(http, setup), click(http, setup)
    with second_server(live) as second:
        query = f"clickid={cid}&payout=10&token={setup.token}"
        headers = _sign("k3y", int(time.time()), query)
        path = f"/postback/{setup.network_key}?{query}"
        assert http.get(path, headers=headers).text.startswith("OK accepted")
        assert reason(second.get(path, headers=headers)) == (403, "replayed_signature")
        # The same signed request racing into both servers at once: one wins.
        query = f"clickid={other}&payout=10&token={setup.token}"
        headers = _sign("k3y", int(time.time()), query)
        path = f"/postback/{setup.network_key}?{query}"
        answers = race([http, second, http, second], path, headers)
    assert sorted(r.status_code for r in answers) == [200, 403, 403, 403]
    assert sorted(_revenue(live)) == [10_000_000, 10_000_000]


def race(clients: list[httpx.Client], path: str, headers: dict[str, str]) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    start = threading.Barrier(len(clients))

    def one(client: httpx.Client) -> None:
        start.wait()
        answers.append(client.get(path, headers=headers))

    threads = [threading.Thread(target=one, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return answers


@contextmanager
def second_server(live: LiveServer) -> Iterator[httpx.Client]:
    """Another instance of the application on the same database, as a second host runs it."""
    app = PostbackApp(live.settings.model_copy())
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "second server did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_a_signed_postback_that_failed_server_side_can_be_sent_again(
    live: LiveServer, http: httpx.Client
) -> None:
    """The signature is remembered in the postback's own transaction: when that transaction
    does not commit (a server fault), the signature is not spent."""
    setup = _signed_setup(live)
    cid = click(http, setup)
    query = f"clickid={cid}&payout=10&token={setup.token}"
    headers = _sign("k3y", int(time.time()), query)
    request = _request(setup, query, headers)
    rt = live.runtime
    with rt.db.engine.connect() as conn:
        transaction = conn.begin()
        outcome = PostbackJob(rt, request)(conn)
        assert outcome.reason == "accepted"
        transaction.rollback()  # the fault: nothing of it is kept
    path = f"/postback/{setup.network_key}?{query}"
    assert http.get(path, headers=headers).text.startswith("OK accepted")
    assert _revenue(live) == [10_000_000]


def _request(setup: Setup, query: str, headers: dict[str, str]) -> PostbackRequest:
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    return PostbackRequest(
        received_at=datetime.now(UTC),
        method="GET",
        path=f"/postback/{setup.network_key}",
        query=query,
        body="",
        source_ip="127.0.0.1",
        params=params,
        network_key=setup.network_key,
        signature=headers["X-Postback-Signature"],
        signature_timestamp=headers["X-Postback-Timestamp"],
    )


def test_expired_signatures_are_forgotten(live: LiveServer, http: httpx.Client) -> None:
    setup = _signed_setup(live)
    cid = click(http, setup)
    old = datetime.now(UTC) - timedelta(hours=1)
    with live.runtime.db.session() as s:
        s.add(SeenSignature(network_id=setup.network_id, signature="0" * 64, expires_at=old))
    signatures._purged_at[0] = float("-inf")  # a purge is due
    query = f"clickid={cid}&token={setup.token}"
    headers = _sign("k3y", int(time.time()), query)
    assert http.get(f"/postback/{setup.network_key}?{query}", headers=headers).status_code == 200
    with live.runtime.db.session() as s:
        kept = s.scalars(select(SeenSignature.signature)).all()
    assert kept == [headers["X-Postback-Signature"].removeprefix("sha256=")]
