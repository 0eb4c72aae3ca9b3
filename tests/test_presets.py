"""Every shipped preset end to end: the generated tracking link, clicked with the traffic
source's macros filled in; the generated postback URL, fired with the network's macros filled in
in that system's own parameter names and status words; one conversion with the right payout,
currency and status, and the traffic source's outbound postback queued in its own format."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import select

from postback.models import Conversion, Delivery
from postback.templates import registry
from postback.templates.schemas import NetworkSide, SourceSide, Template
from tests.conftest import LiveServer

EXTERNAL_ID = "EXT-42"
PAYOUT = "2.5"


def both_sides(name: str) -> tuple[Template, Template]:
    template = registry.all_templates()[name]
    custom = registry.all_templates()["custom"]
    return (template if template.source else custom), (template if template.network else custom)


def post(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post(f"/api/v1/{path}", json=body)
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def make_source(api: httpx.Client, template: Template) -> dict[str, Any]:
    body: dict[str, Any] = {"name": template.title, "template": template.name}
    assert template.source is not None
    if template.source.postbacks:
        variant = template.source.postbacks[0]
        body["postback_variant"] = variant.name
        body["postback_settings"] = dict.fromkeys(variant.settings, "acct1")
    elif template.name == "knorex":
        body["postback_url"] = "https://xpo.test/s2s?kcid={external_id}"
    return post(api, "traffic-sources", body)


def split(url: str) -> tuple[str, list[tuple[str, str]]]:
    """Path and (name, macro) pairs of a generated URL, split by hand: macros such as `#s2#` and
    `##X##` would read as a URL fragment, and the other system replaces them before sending."""
    base, _, query = url.partition("?")
    pairs = [tuple(pair.split("=", 1)) for pair in query.split("&")] if query else []
    return urlsplit(base).path, pairs  # type: ignore[return-value]


def click_as_the_source(http: httpx.Client, link: str, side: SourceSide) -> httpx.Response:
    """What the traffic source does: replace its macros in the tracking link, send the visitor."""
    path, pairs = split(link)
    params = {n: EXTERNAL_ID if m == side.click_macro else f"tok-{n}" for n, m in pairs}
    if not side.click_macro:  # the system appends its click ID by itself
        params[side.click_param] = EXTERNAL_ID
    return http.get(path, params=params)


def value_for(param: str, macro: str, side: NetworkSide, clickid: str) -> str:
    """What the network puts in place of its macro when the conversion happens."""
    if macro.isalnum():  # a fixed value in the template, sent as it is
        return macro
    approved = next((w for w, s in side.status_map.items() if s == "approved"), "approved")
    canonical = side.canonical(param)
    return {
        "clickid": clickid,
        "payout": PAYOUT,
        "amount": PAYOUT,
        "currency": "EUR",
        "status": approved,
        "txid": "TX-1",
        "event": "conversion",
        "comperc": "10",
    }.get(canonical or "", "x")


def fire_as_the_network(http: httpx.Client, url: str, side: NetworkSide, clickid: str) -> str:
    path, pairs = split(url)
    filled = {p: (v if p == "token" else value_for(p, v, side, clickid)) for p, v in pairs}
    resp = http.get(path, params=filled)
    assert resp.status_code == 200, resp.text
    assert resp.text.startswith("OK accepted"), resp.text
    return resp.text.split()[2]


@pytest.mark.parametrize("name", registry.names())
def test_a_preset_works_end_to_end(
    name: str, live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    source_t, network_t = both_sides(name)
    assert source_t.source is not None and network_t.network is not None
    source = make_source(api, source_t)
    network = post(api, "networks", {"name": "n", "template": network_t.name, "secret": "s3cr3t"})
    param = network_t.network.offer_param
    offer = post(
        api,
        "offers",
        {"name": "o", "url": f"https://offer.test/lp?{param}={{clickid}}", "payout": "1",
         "network_id": network["id"]},
    )  # fmt: skip
    assert offer["warnings"] == []
    campaign = post(
        api,
        "campaigns",
        {"name": "c", "traffic_source_id": source["id"], "offers": [{"offer_id": offer["id"]}]},
    )

    redirect = click_as_the_source(http, campaign["tracking_link"], source_t.source)
    assert redirect.status_code == 302, redirect.text
    clickid = dict(parse_qsl(urlsplit(redirect.headers["location"]).query))[param]
    conversion_id = fire_as_the_network(http, network["postback_url"], network_t.network, clickid)

    with live.runtime.db.session() as s:
        [conversion] = s.scalars(select(Conversion)).all()
        deliveries = s.scalars(select(Delivery)).all()
    sends_currency = "currency" in {
        network_t.network.canonical(p) for p in network_t.network.postback
    }
    assert conversion.id == conversion_id
    assert Decimal(conversion.original_amount) == Decimal(PAYOUT)
    assert conversion.original_currency == ("EUR" if sends_currency else "USD")
    assert conversion.status == "approved"
    if "comperc" in network_t.network.postback:
        assert conversion.commission_micros == conversion.payout_micros // 10
    [delivery] = deliveries
    assert f"={EXTERNAL_ID}" in delivery.url
    assert "{" not in delivery.url
    assert "acct1" in delivery.url or name == "knorex"
