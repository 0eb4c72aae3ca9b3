"""The macro linter, as a table: URL, kind, context -> the codes it reports (errors, warnings)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from postback.kit.linter import Kind, lint_url

OK: tuple[list[str], list[str]] = ([], [])
ADSTERRA_TOKENS = {"placement"}

CASES: list[tuple[str, Kind, dict[str, Any], tuple[list[str], list[str]]]] = [
    # Offer URLs: the click ID must travel, in our syntax.
    ("https://offer.test/lp?cid={clickid}", "offer", {}, OK),
    ("http://offer.test/{clickid}/lp", "offer", {}, OK),
    ("https://o.test/?c={clickid}&z={zone}", "offer", {}, ([], ["unknown_macro"])),
    ("https://o.test/?c={clickid}&s={sub3}&t={timestamp}", "offer", {}, OK),
    ("https://o.test/?c={clickid}&cc={country}&os={os}&d={device}", "offer", {}, OK),
    ("https://o.test/?c={clickid}&z={zone}", "offer", {"tokens": {"zone"}}, OK),
    ("https://offer.test/lp", "offer", {}, (["missing_clickid"], [])),
    ("https://o.test/?c={click_id}", "offer", {}, (["unknown_macro", "missing_clickid"], [])),
    ("https://o.test/?c={clikid}", "offer", {}, (["unknown_macro", "missing_clickid"], [])),
    ("https://o.test/?c={CLICKID}", "offer", {}, (["missing_clickid"], ["macro_case"])),
    ("https://o.test/?c=${SUBID}", "offer", {}, (["foreign_macro", "missing_clickid"], [])),
    ("https://o.test/?c=##SUB_ID_SHORT##", "offer", {}, (["foreign_macro", "missing_clickid"], [])),
    ("https://o.test/?c={clickid}&s=#s2#", "offer", {}, (["foreign_macro"], [])),
    ("https://o.test/?c={clickid}&z=[ZONE_ID]", "offer", {}, (["foreign_macro"], [])),
    ("https://o.test/?c={{clickid}}", "offer", {}, (["foreign_macro", "missing_clickid"], [])),
    ("https://o.test/?c={clickid}&x=%SUBID%", "offer", {}, (["foreign_macro"], [])),
    ("https://o.test/?c={clickid}&c=1", "offer", {}, (["duplicate_param"], [])),
    ("https://o.test/?c={clickid}&a[]=1&a[]=2", "offer", {}, OK),
    ("https://o.test/?c={clickid}&f[country]=us", "offer", {}, OK),
    ("https://o.test/?c={clickid", "offer", {}, (["malformed_macro", "missing_clickid"], [])),
    ("https://o.test/?c={click-id}", "offer", {}, (["malformed_macro", "missing_clickid"], [])),
    ("javascript:alert(1)//{clickid}", "offer", {}, (["bad_scheme"], [])),
    ("ftp://o.test/?c={clickid}", "offer", {}, (["bad_scheme"], [])),
    ("//o.test/?c={clickid}", "offer", {}, (["bad_scheme"], [])),
    ("https:///?c={clickid}", "offer", {}, (["no_host"], [])),
    ("https://o.test/a b?c={clickid}", "offer", {}, (["bad_characters"], [])),
    ("https://o.test/?c={clickid}&aff=REPLACE", "offer", {}, ([], ["doc_placeholder"])),
    ("https://o.test/?sub1={clickid}", "offer", {"click_param": "aff_sub"}, ([], ["click_param"])),
    ("https://o.test/?aff_sub={clickid}", "offer", {"click_param": "aff_sub"}, OK),
    # Outbound postback URLs: filled from our outbound macro table.
    ("https://ts.test/pb?id={external_id}&p={payout}&s={status}", "postback", {}, OK),
    ("https://ts.test/pb?id={external_id}&c={currency}&t={txid}&e={event}", "postback", {}, OK),
    ("http://www.pbterra.com/code/{currency}/bob/at?subid_short={external_id}", "postback", {}, OK),
    ("https://ts.test/pb?p={payout}", "postback", {}, ([], ["missing_external_id"])),
    (
        "https://ts.test/pb?id={externalid}",
        "postback",
        {},
        (["unknown_macro"], ["missing_external_id"]),
    ),
    ("https://ts.test/pb?id={external_id}&z={zone}", "postback", {}, ([], ["unknown_macro"])),
    (
        "https://ts.test/pb?id={external_id}&z={zone}",
        "postback",
        {"closed": True, "tokens": ADSTERRA_TOKENS},
        (["unknown_macro"], []),
    ),
    (
        "https://ts.test/pb?id={external_id}&pl={placement}",
        "postback",
        {"closed": True, "tokens": ADSTERRA_TOKENS},
        OK,
    ),
    (
        "https://ts.test/pb?id=${SUBID}&p={payout}",
        "postback",
        {},
        (["foreign_macro"], ["missing_external_id"]),
    ),
    ("https://ts.test/pb?id={clickid}&sum={sum}", "postback", {}, (["unknown_macro"], [])),
    ("https://ts.test/pb?id={external_id}&id={clickid}", "postback", {}, (["duplicate_param"], [])),
    (
        "http://www.pbterra.com/name/NAMEOFADVERTISER/at?subid_short={external_id}",
        "postback",
        {},
        ([], ["doc_placeholder"]),
    ),
    # Fallback URLs are sent as they are.
    ("https://fallback.test/", "fallback", {}, OK),
    ("https://fallback.test/?c={clickid}", "fallback", {}, ([], ["not_filled"])),
    ("mailto:x@y.test", "fallback", {}, (["bad_scheme"], [])),
]


@pytest.mark.parametrize(("url", "kind", "context", "expected"), CASES)
def test_linter_verdicts(
    url: str, kind: Kind, context: dict[str, Any], expected: tuple[list[str], list[str]]
) -> None:
    findings = lint_url(url, kind, **context)
    errors = [f.code for f in findings if f.level == "error"]
    warnings = [f.code for f in findings if f.level == "warning"]
    assert (errors, warnings) == expected, [f.message for f in findings]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_messages_say_what_to_write_instead() -> None:
    [finding, _missing] = lint_url("https://o.test/?c=${SUBID}", "offer")
    assert "${X} placeholder (PropellerAds style)" in finding.message
    assert "{clickid}" in finding.message
    finding = lint_url("https://ts.test/pb?id={externalid}&p={payout}", "postback")[0]
    assert finding.message == "{externalid} is not one of our macros: did you mean {external_id}?"


# --- on save, through the admin API --------------------------------------------------------------


def test_an_offer_url_with_errors_is_refused_with_each_one(api: httpx.Client) -> None:
    resp = api.post("/api/v1/offers", json={"name": "o", "url": "https://o.test/?c=${SUBID}"})
    assert resp.status_code == 422
    assert resp.json()["error"] == "validation_error"
    assert [(f["field"], f["code"]) for f in resp.json()["fields"]] == [
        ("url", "foreign_macro"),
        ("url", "missing_clickid"),
    ]


def test_warnings_come_back_with_the_saved_offer(api: httpx.Client) -> None:
    network = api.post("/api/v1/networks", json={"name": "n", "template": "everflow"}).json()
    body = {"name": "o", "url": "https://o.test/?c={clickid}&z={zone}", "network_id": network["id"]}
    offer = api.post("/api/v1/offers", json=body).json()
    assert [w["code"] for w in offer["warnings"]] == ["unknown_macro", "click_param"]
    assert "put {clickid} in sub1" in offer["warnings"][1]["message"]
    fixed = api.patch(
        f"/api/v1/offers/{offer['id']}", json={"url": "https://o.test/?sub1={clickid}"}
    ).json()
    assert fixed["warnings"] == []
    broken = api.patch(f"/api/v1/offers/{offer['id']}", json={"url": "https://o.test/"})
    assert broken.status_code == 422


def test_a_preset_sources_postback_may_use_only_the_tokens_it_passes(api: httpx.Client) -> None:
    body = {"name": "s", "template": "adsterra", "postback_url": "https://p.test/?id={zone}"}
    resp = api.post("/api/v1/traffic-sources", json=body)
    assert resp.status_code == 422
    assert [f["code"] for f in resp.json()["fields"]] == ["unknown_macro"]
    body["postback_url"] = "https://p.test/?id={external_id}&pl={placement}"
    assert api.post("/api/v1/traffic-sources", json=body).json()["warnings"] == []
    custom = {"name": "c", "postback_url": "https://p.test/?id={external_id}&z={zone}"}
    made = api.post("/api/v1/traffic-sources", json=custom).json()
    assert [w["code"] for w in made["warnings"]] == ["unknown_macro"]


def test_a_campaign_fallback_is_linted_too(api: httpx.Client) -> None:
    source = api.post("/api/v1/traffic-sources", json={"name": "s"}).json()
    body = {"name": "c", "traffic_source_id": source["id"], "status": "paused"}
    bad = api.post("/api/v1/campaigns", json={**body, "fallback_url": "https://f.test/?a=1&a=2"})
    assert [f["code"] for f in bad.json()["fields"]] == ["duplicate_param"]
    made = api.post("/api/v1/campaigns", json={**body, "fallback_url": "https://f.test/{clickid}"})
    assert [w["code"] for w in made.json()["warnings"]] == ["not_filled"]
