"""Landers, campaign paths and rules, and offer daily caps, through the real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from postback.clicks.schemas import OfferRoute, PathRoute, RuleRoute
from postback.models import Click, LanderClick
from tests.conftest import LiveServer

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


def created(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def fields_of(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 422, resp.text
    return {f["field"] for f in resp.json()["fields"]}


def source(api: httpx.Client) -> int:
    return int(created(api.post("/api/v1/traffic-sources", json={"name": "s"}))["id"])


def network(api: httpx.Client) -> dict[str, Any]:
    return created(api.post("/api/v1/networks", json={"name": "n"}))


def offer(api: httpx.Client, name: str, network_id: int | None = None, **extra: Any) -> int:
    body = {"name": name, "url": f"https://{name}.test/?cid={{clickid}}", **extra}
    if network_id:
        body["network_id"] = network_id
    return int(created(api.post("/api/v1/offers", json=body))["id"])


def lander(api: httpx.Client, name: str) -> int:
    url = f"https://{name}.test/page?c={{clickid}}&zone={{zone}}"
    return int(created(api.post("/api/v1/landers", json={"name": name, "url": url}))["id"])


def campaign(api: httpx.Client, **body: Any) -> dict[str, Any]:
    return created(api.post("/api/v1/campaigns", json={"name": "c", **body}))


def host_of(resp: httpx.Response) -> str:
    assert resp.status_code == 302, resp.text
    return urlsplit(resp.headers["location"]).hostname or ""


def param(resp: httpx.Response, name: str) -> str:
    return parse_qs(urlsplit(resp.headers["location"]).query)[name][0]


# Landers


def test_landers_are_linted_listed_and_archived(api: httpx.Client) -> None:
    bad = api.post("/api/v1/landers", json={"name": "x", "url": "ftp://lp.test/"})
    assert fields_of(bad) == {"url"}
    foreign = api.post("/api/v1/landers", json={"name": "x", "url": "https://lp.test/?c=##ID##"})
    assert fields_of(foreign) == {"url"}
    plain = created(api.post("/api/v1/landers", json={"name": "p", "url": "https://lp.test/"}))
    assert [w["code"] for w in plain["warnings"]] == ["missing_clickid"]
    kept = lander(api, "kept")
    assert api.delete(f"/api/v1/landers/{plain['id']}").json()["archived"] is True
    listed = api.get("/api/v1/landers").json()["items"]
    assert [x["id"] for x in listed] == [kept]
    assert api.get("/api/v1/landers/999").status_code == 404


def test_a_click_shows_the_lander_then_lp_goes_to_the_offer(
    live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    page = lander(api, "lander")
    target = offer(api, "offer")
    made = campaign(
        api,
        traffic_source_id=source(api),
        landers=[{"lander_id": page}],
        offers=[{"offer_id": target}],
    )
    assert made["landers"] == [{"lander_id": page, "weight": 100}]
    links = api.get(f"/api/v1/campaigns/{made['id']}/links").json()
    assert links["lander_click_url"] == f"{live.settings.public_url}/lp"
    first = http.get(f"/c/{made['key']}", params={"zone": "z 1"})
    assert host_of(first) == "lander.test"
    clickid = param(first, "c")
    assert param(first, "zone") == "z 1"
    assert f"pb_clickid={clickid}; Path=/;" in first.headers["set-cookie"]
    assert "HttpOnly" in first.headers["set-cookie"]
    with live.runtime.db.session() as s:
        stored = s.get(Click, clickid)
        assert stored is not None
        assert (stored.lander_id, stored.offer_id) == (page, target)

    on = http.get("/lp", params={"clickid": clickid})
    assert host_of(on) == "offer.test"
    assert param(on, "cid") == clickid
    # The bare /lp finds the click by its cookie (or by the cookie's name before the pixel
    # came: a visitor who clicked before the upgrade); a second click-through counts once.
    again = httpx.get(f"{live.url}/lp", cookies={"pb_clickid": clickid}, follow_redirects=False)
    assert param(again, "cid") == clickid
    old = httpx.get(f"{live.url}/lp", cookies={"pb_click": clickid}, follow_redirects=False)
    assert param(old, "cid") == clickid
    with live.runtime.db.session() as s:
        rows = s.scalars(select(LanderClick)).all()
        assert [(r.click_id, r.lander_id, r.campaign_id) for r in rows] == [
            (clickid, page, made["id"])
        ]


@pytest.mark.parametrize(
    "query", ["", "?clickid=nope", "?clickid=01ARZ3NDEKTSV4RRFFQ69G5FAV", "?clickid="]
)
def test_lp_without_a_known_click_is_404(http: httpx.Client, query: str) -> None:
    resp = http.get(f"/lp{query}")
    assert resp.status_code == 404
    assert "Link not found" in resp.text


def test_lp_refuses_other_methods_and_head_records_nothing(
    live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    made = campaign(
        api,
        traffic_source_id=source(api),
        landers=[{"lander_id": lander(api, "lp")}],
        offers=[{"offer_id": offer(api, "o")}],
    )
    clickid = param(http.get(f"/c/{made['key']}"), "c")
    assert http.post(f"/lp?clickid={clickid}").status_code == 405
    assert http.head(f"/lp?clickid={clickid}").status_code == 302
    with live.runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(LanderClick)) == 0


def test_registered_clicks_skip_the_lander(api: httpx.Client) -> None:
    made = campaign(
        api,
        traffic_source_id=source(api),
        landers=[{"lander_id": lander(api, "lp")}],
        offers=[{"offer_id": offer(api, "direct")}],
    )
    resp = api.post("/api/v1/clicks", json={"campaign_key": made["key"]})
    assert urlsplit(created(resp)["offer_url"]).hostname == "direct.test"


# Paths and rules


def test_paths_rotate_by_weight_and_a_zero_weight_path_only_by_rule(
    api: httpx.Client, http: httpx.Client
) -> None:
    a, b, special = offer(api, "a"), offer(api, "b"), offer(api, "special")
    made = campaign(
        api,
        traffic_source_id=source(api),
        paths=[
            {"name": "A", "weight": 1, "offers": [{"offer_id": a}]},
            {"name": "B", "weight": 1, "offers": [{"offer_id": b}]},
            {"name": "zone 7", "weight": 0, "offers": [{"offer_id": special}]},
        ],
        rules=[{"name": "zone seven", "when": {"tokens": {"zone": ["7"]}}, "path": "zone 7"}],
    )
    assert made["offers"] == [{"offer_id": a, "weight": 100}]
    seen = {host_of(http.get(f"/c/{made['key']}", params={"zone": "1"})) for _ in range(60)}
    # Two even paths: the chance that 60 clicks all take one is 2^-59.
    assert seen == {"a.test", "b.test"}
    ruled = {host_of(http.get(f"/c/{made['key']}", params={"zone": "7"})) for _ in range(10)}
    assert ruled == {"special.test"}


def test_rules_route_by_device_os_and_country_first_match_wins(
    api: httpx.Client, http: httpx.Client
) -> None:
    ids = {name: offer(api, name) for name in ("main", "ios", "mobile", "us")}
    paths = [
        {"name": name, "weight": 100 if name == "main" else 0, "offers": [{"offer_id": i}]}
        for name, i in ids.items()
    ]
    rules = [
        {"name": "US", "when": {"country": ["us"]}, "path": "us"},
        {"name": "iOS phones", "when": {"os": ["iOS"], "device": ["Mobile"]}, "path": "ios"},
        {"name": "phones", "when": {"device": ["mobile"]}, "path": "mobile"},
    ]
    made = campaign(api, traffic_source_id=source(api), paths=paths, rules=rules)
    assert made["rules"][1]["when"] == {"device": ["mobile"], "os": ["ios"]}
    url = f"/c/{made['key']}"
    assert host_of(http.get(url, headers={"user-agent": IPHONE})) == "ios.test"
    android = IPHONE.replace("iPhone; CPU iPhone OS 17_4 like Mac OS X", "Linux; Android 14")
    assert host_of(http.get(url, headers={"user-agent": android})) == "mobile.test"
    assert host_of(http.get(url, headers={"user-agent": WINDOWS})) == "main.test"
    # The local test client has no country: a country rule never matches it.
    assert host_of(http.get(url)) == "main.test"


def test_patch_replaces_paths_and_keeps_rules_consistent(
    api: httpx.Client, http: httpx.Client
) -> None:
    a, b = offer(api, "a"), offer(api, "b")
    made = campaign(
        api,
        traffic_source_id=source(api),
        paths=[
            {"name": "one", "offers": [{"offer_id": a}]},
            {"name": "two", "weight": 0, "offers": [{"offer_id": b}]},
        ],
        rules=[{"name": "r", "when": {"tokens": {"z": ["1"]}}, "path": "two"}],
    )
    url = f"/api/v1/campaigns/{made['id']}"
    # Dropping the path a rule uses is refused; replacing the offers makes one default path.
    assert fields_of(api.patch(url, json={"offers": [{"offer_id": b}]})) == {"rules.0.path"}
    changed = api.patch(url, json={"offers": [{"offer_id": b}], "rules": []}).json()
    assert [p["name"] for p in changed["paths"]] == ["default"]
    assert host_of(http.get(f"/c/{made['key']}", params={"z": "1"})) == "b.test"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"paths": [{"name": "x", "offers": []}]}, "paths.0.offers"),
        ({"paths": [{"name": "x"}, {"name": "X"}]}, "paths.1.name"),
        ({"paths": [{"offers": [{"offer_id": 999}]}]}, "paths.0.offers.0.offer_id"),
        (
            {"offers": [{"offer_id": "OFFER"}], "landers": [{"lander_id": 999}]},
            "landers.0.lander_id",
        ),
        ({"offers": [{"offer_id": "OFFER"}], "paths": []}, ""),
        (
            {
                "offers": [{"offer_id": "OFFER"}],
                "rules": [{"name": "r", "when": {"os": ["iOS"]}, "path": "nope"}],
            },
            "rules.0.path",
        ),
        (
            {
                "offers": [{"offer_id": "OFFER"}],
                "rules": [{"name": "r", "when": {}, "path": "default"}],
            },
            "rules.0.when",
        ),
        (
            {"paths": [{"offers": [{"offer_id": "OFFER"}], "landers": [{"lander_id": "LANDER"}]}]},
            "paths.0.landers.0.lander_id",
        ),
    ],
)
def test_bad_routing_is_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    good = offer(api, "good")
    archived = lander(api, "old")
    api.delete(f"/api/v1/landers/{archived}")

    def fill(value: Any) -> Any:
        if value == "OFFER":
            return good
        if value == "LANDER":
            return archived
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    resp = api.post(
        "/api/v1/campaigns", json={"name": "c", "traffic_source_id": source(api), **fill(body)}
    )
    assert field in fields_of(resp)


# Daily caps


def postback(http: httpx.Client, net: dict[str, Any], clickid: str) -> None:
    params = {"cid": clickid, "payout": "1", "token": net["secret"]}
    resp = http.get(f"/postback/{net['key']}", params=params)
    assert resp.status_code == 200, resp.text


def test_a_capped_offer_sends_its_traffic_to_the_fallback_offer(
    live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    net = network(api)
    spare = offer(api, "spare", net["id"])
    capped = offer(api, "capped", net["id"], daily_cap=2, cap_fallback_offer_id=spare)
    made = campaign(api, traffic_source_id=source(api), offers=[{"offer_id": capped}])
    url = f"/c/{made['key']}"
    for _ in range(2):
        first = http.get(url)
        assert host_of(first) == "capped.test"
        postback(http, net, param(first, "cid"))
        live.runtime.routes.clear()  # what the route cache's few seconds would do
    assert host_of(http.get(url)) == "spare.test"


def test_a_capped_offer_without_fallback_leaves_the_rotation_or_keeps_the_visitor(
    live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    net = network(api)
    capped = offer(api, "capped", net["id"], daily_cap=1)
    free = offer(api, "free", net["id"])
    made = campaign(
        api,
        traffic_source_id=source(api),
        offers=[{"offer_id": capped, "weight": 1_000_000}, {"offer_id": free, "weight": 1}],
    )
    url = f"/c/{made['key']}"
    hit = next(r for r in (http.get(url) for _ in range(20)) if host_of(r) == "capped.test")
    postback(http, net, param(hit, "cid"))
    live.runtime.routes.clear()
    assert {host_of(http.get(url)) for _ in range(10)} == {"free.test"}

    alone = campaign(api, traffic_source_id=source(api), offers=[{"offer_id": capped}])
    # With no other offer and no fallback URL, a cap never turns paid traffic into a 404...
    assert host_of(http.get(f"/c/{alone['key']}")) == "capped.test"
    fallback = "https://elsewhere.test/"
    api.patch(f"/api/v1/campaigns/{alone['id']}", json={"fallback_url": fallback})
    # ...but with a fallback URL the capped campaign sends its visitors there.
    assert http.get(f"/c/{alone['key']}").headers["location"] == fallback


def test_cap_settings_are_validated(api: httpx.Client) -> None:
    base = {"name": "o", "url": "https://o.test/?c={clickid}"}
    assert fields_of(api.post("/api/v1/offers", json={**base, "daily_cap": 0})) == {"daily_cap"}
    zone = api.post("/api/v1/offers", json={**base, "cap_timezone": "Mars/Olympus"})
    assert fields_of(zone) == {"cap_timezone"}
    missing = api.post("/api/v1/offers", json={**base, "cap_fallback_offer_id": 999})
    assert fields_of(missing) == {"cap_fallback_offer_id"}
    made = created(api.post("/api/v1/offers", json={**base, "cap_timezone": "Europe/Berlin"}))
    assert made["cap_timezone"] == "Europe/Berlin" and made["daily_cap"] is None
    self_ref = api.patch(f"/api/v1/offers/{made['id']}", json={"cap_fallback_offer_id": made["id"]})
    assert fields_of(self_ref) == {"cap_fallback_offer_id"}


# Reports by lander


def test_a_report_groups_and_filters_by_lander(
    live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    net = network(api)
    first, second = lander(api, "first"), lander(api, "second")
    made = campaign(
        api,
        traffic_source_id=source(api),
        landers=[{"lander_id": first}, {"lander_id": second}],
        offers=[{"offer_id": offer(api, "o", net["id"])}],
    )
    by_lander: dict[str, list[str]] = {"first.test": [], "second.test": []}
    for _ in range(40):
        resp = http.get(f"/c/{made['key']}")
        by_lander[host_of(resp)].append(param(resp, "c"))
    assert all(by_lander.values()), "both landers should get clicks from 40"
    for clickid in by_lander["first.test"][:2]:
        postback(http, net, clickid)
    today = datetime.now(UTC).date()
    range_ = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    report = api.get("/api/v1/reports", params={"group_by": "landing_page", **range_})
    assert report.status_code == 200, report.text
    rows = {r["lander_name"]: r for r in report.json()["rows"]}
    assert rows["first"]["lander"] == first
    assert rows["first"]["clicks"] == len(by_lander["first.test"])
    assert rows["second"]["clicks"] == len(by_lander["second.test"])
    assert (rows["first"]["conversions"], rows["second"]["conversions"]) == (2, 0)
    only = api.get("/api/v1/reports", params={"group_by": "lander", "lander": second, **range_})
    assert [r["lander"] for r in only.json()["rows"]] == [second]


def test_rule_conditions_all_must_match_any_value_within_each() -> None:
    path = PathRoute.build("p", 0, [], [OfferRoute(1, "https://o.test/", None, 1)])
    rule = RuleRoute(
        "US or DE phones, zone 1",
        path,
        country=frozenset({"US", "DE"}),
        device=frozenset({"mobile"}),
        os=None,
        browser=None,
        tokens=(("zone", frozenset({"1"})),),
    )
    row = {"country": "de", "device": "Mobile", "os": "Android", "browser": "Chrome"}
    assert rule.matches(row, {"zone": "1"})
    assert not rule.matches(row, {"zone": "2"})
    assert not rule.matches(row, {})
    assert not rule.matches({**row, "country": "FR"}, {"zone": "1"})
    assert not rule.matches({**row, "country": None}, {"zone": "1"})
    assert not rule.matches({**row, "device": "desktop"}, {"zone": "1"})
