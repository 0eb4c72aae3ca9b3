"""Templates applied through the admin API: networks, traffic sources and campaign links."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


def fields_of(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 422, resp.text
    return [f["field"] for f in resp.json()["fields"]]


def create(api: httpx.Client, kind: str, **body: Any) -> dict[str, Any]:
    resp = api.post(f"/api/v1/{kind}", json=body)
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def test_a_network_from_a_template_reads_postbacks_the_way_that_system_sends_them(
    api: httpx.Client,
) -> None:
    network = create(api, "networks", name="K", template="keitaro", secret="s3cr3t")
    assert network["aliases"] == {"subid": "clickid", "tid": "txid"}
    assert network["status_map"]["sale"] == "approved"
    assert network["duplicate_mode"] == "update"
    assert network["postback_url"].endswith(
        f"/postback/{network['key']}?subid={{external_id}}&status={{status}}"
        "&payout={conversion_revenue}&tid={tid}&token=s3cr3t"
    )


def test_what_the_request_says_wins_over_the_template(api: httpx.Client) -> None:
    network = create(
        api, "networks", name="A", template="affise", duplicate_mode="ignore", aliases={}
    )
    assert (network["duplicate_mode"], network["aliases"]) == ("ignore", {})
    assert network["status_map"]["3"] == "rejected"


def test_changing_a_networks_template_brings_the_new_systems_rules(api: httpx.Client) -> None:
    network = create(api, "networks", name="N", no_secret=True)
    assert network["postback_url"].endswith("?clickid={clickid}&payout={payout}&txid={txid}")
    changed = api.patch(f"/api/v1/networks/{network['id']}", json={"template": "cake"}).json()
    assert changed["status_map"]["Scrubbed"] == "rejected"
    assert changed["postback_url"].endswith("?clickid=#s2#&payout=#price#&txid=#leadid#")


@pytest.mark.parametrize(
    ("kind", "template"),
    [("networks", "nosuch"), ("networks", "adsterra"), ("traffic-sources", "cake")],
)
def test_a_template_must_exist_and_fit_the_side(
    api: httpx.Client, kind: str, template: str
) -> None:
    resp = api.post(f"/api/v1/{kind}", json={"name": "x", "template": template})
    assert fields_of(resp) == ["template"]


def test_a_traffic_source_from_a_template_gets_its_click_parameter_and_postback(
    api: httpx.Client,
) -> None:
    source = create(
        api,
        "traffic-sources",
        name="A",
        template="adsterra",
        postback_variant="with_payout",
        postback_settings={"account": "bob"},
    )
    assert source["external_id_param"] == "subid"
    assert source["postback_url"] == (
        "http://www.pbterra.com/name/bob/at?subid_short={external_id}&atpay={payout}"
    )
    path = f"/api/v1/traffic-sources/{source['id']}"
    changed = api.patch(
        path, json={"postback_variant": "with_currency", "postback_settings": {"account": "al"}}
    ).json()
    assert changed["postback_url"].startswith("http://www.pbterra.com/code/{currency}/al/at?")
    assert (
        api.patch(path, json={"name": "renamed"}).json()["postback_url"]
        == (changed["postback_url"])
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"postback_variant": "nope", "postback_settings": {"account": "b"}}, "postback_variant"),
        ({"postback_variant": "simple"}, "postback_settings.account"),
        ({"postback_variant": "simple", "postback_url": "https://x.test/"}, "postback_variant"),
    ],
)
def test_a_generated_postback_needs_a_variant_and_its_settings(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    resp = api.post("/api/v1/traffic-sources", json={"name": "A", "template": "adsterra", **body})
    assert fields_of(resp) == [field]


def test_a_campaign_gives_the_links_to_paste_in_each_systems_syntax(api: httpx.Client) -> None:
    source = create(api, "traffic-sources", name="P", template="propellerads")
    network = create(api, "networks", name="T", template="tune")
    offer = create(
        api,
        "offers",
        name="o",
        url="https://t.test/aff_c?offer_id=1&aff_sub={clickid}",
        network_id=network["id"],
    )
    campaign = create(
        api,
        "campaigns",
        name="c",
        traffic_source_id=source["id"],
        offers=[{"offer_id": offer["id"]}],
    )
    assert campaign["tracking_link"] == (
        f"{campaign['tracking_url']}?subid=${{SUBID}}&zone=${{ZONEID}}"
        "&source_campaign=${CAMPAIGNID}"
    )
    links = api.get(f"/api/v1/campaigns/{campaign['id']}/links").json()
    assert links["tracking_link"] == campaign["tracking_link"]
    [item] = links["offers"]
    assert item["network_template"] == "tune"
    assert item["postback_url"] == network["postback_url"]
    assert "clickid={aff_sub}" in item["postback_url"]
