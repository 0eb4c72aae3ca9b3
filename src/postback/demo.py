"""`postback demo`: a ready campaign and simulated traffic, driven over real HTTP.

Everything goes through a running server the way a traffic source, a visitor and an affiliate
network would reach it: the admin API creates the objects, the tracking link gets the clicks,
the network's postback URL gets the conversions. The offer URL is never requested (redirects
are not followed). The results are read back from the API, not counted locally, so the demo
also shows that the numbers a user will look at agree with what was sent.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
from ulid import ULID

OFFER_URL = "https://offer.example/?click={clickid}&zone={zone}&creative={sub1}"
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
)
LANGUAGES = ("en-US,en;q=0.9", "de-DE,de;q=0.8", "fr-FR,fr;q=0.8", "es-ES", "pt-BR")
ZONES = ("1001", "1002", "1003", "2001", "2002")
CREATIVES = ("banner-a", "banner-b", "video-1")
PAYOUTS = ("1.50", "2.00", "0.75", "3.20")
CONVERSION_SHARE = 0.35
DUPLICATE_SHARE = 0.15
_MACRO = re.compile(r"\$\{(\w+)\}|\{(\w+)\}|##(\w+)##|#(\w+)#|\[(\w+)\]")


class DemoError(Exception):
    """The demo could not run; the message is one line for the user."""


@dataclass
class DemoResult:
    tracking_url: str
    postback_url: str
    campaign_id: int
    clicks_sent: int = 0
    redirects: int = 0
    postbacks_sent: int = 0
    conversions_accepted: int = 0
    duplicates: int = 0
    revenue: str = "0"
    refused: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [
            {"metric": "clicks sent", "value": self.clicks_sent},
            {"metric": "redirects (302)", "value": self.redirects},
            {"metric": "postbacks sent", "value": self.postbacks_sent},
            {"metric": "conversions accepted", "value": self.conversions_accepted},
            {"metric": "duplicates", "value": self.duplicates},
            {"metric": "revenue", "value": self.revenue},
        ]
        for reason, count in sorted(self.refused.items()):
            rows.append({"metric": f"refused: {reason}", "value": count})
        return rows


@dataclass
class _Setup:
    campaign_id: int
    tracking_url: str
    postback_url: str


def run_demo(
    url: str,
    api_key: str,
    clicks: int = 200,
    *,
    seed: int | None = None,
    on_step: Callable[[str], None] = lambda _msg: None,
) -> DemoResult:
    """Create a campaign, send `clicks` clicks and some postbacks, and read the results back."""
    rng = random.Random(seed)
    started = datetime.now(UTC)
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "postback-demo"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=15) as api:
            _check_ready(api)
            on_step("creating a traffic source, a network, an offer and a campaign")
            setup = _create_setup(api, rng)
        with httpx.Client(timeout=15, follow_redirects=False) as http:
            on_step(f"sending {clicks} clicks through the tracking link")
            result = DemoResult(setup.tracking_url, setup.postback_url, setup.campaign_id)
            clickids = _send_clicks(http, setup.tracking_url, clicks, rng, result)
            on_step("sending postbacks for some of the clicks")
            _send_postbacks(http, setup.postback_url, clickids, rng, result)
        with httpx.Client(base_url=base, headers=headers, timeout=15) as api:
            on_step("reading the results back from the API")
            _read_back(api, setup, result, started)
    except httpx.HTTPError as exc:
        raise DemoError(f"request to {base} failed: {_describe(exc)}") from exc
    return result


def _describe(exc: httpx.HTTPError) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _check_ready(api: httpx.Client) -> None:
    try:
        resp = api.get("/readyz")
    except httpx.TransportError as exc:
        raise DemoError(f"cannot reach the server at {api.base_url}: {_describe(exc)}") from exc
    if resp.status_code != 200:
        raise DemoError(f"the server at {api.base_url} is not ready ({resp.status_code})")


def _call(api: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    resp = api.request(method, path, **kwargs)
    if resp.status_code == 401:
        raise DemoError("the server refused the API key (401): check --api-key")
    if resp.status_code >= 400:
        detail = _error_detail(resp)
        raise DemoError(f"{method} {path} answered {resp.status_code}: {detail}")
    return resp.json()


def _error_detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip()
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)
    return str(body)[:200]


def _create_setup(api: httpx.Client, rng: random.Random) -> _Setup:
    tag = f"{rng.randrange(16**4):04x}"
    source = _call(api, "POST", "/api/v1/traffic-sources", json={"name": f"Demo source {tag}"})
    network = _call(api, "POST", "/api/v1/networks", json={"name": f"Demo network {tag}"})
    offer_body = {
        "name": f"Demo offer {tag}",
        "url": OFFER_URL,
        "network_id": network["id"],
        "payout": "1.50",
        "currency": "USD",
    }
    offer = _call(api, "POST", "/api/v1/offers", json=offer_body)
    campaign_body = {
        "name": f"Demo campaign {tag}",
        "traffic_source_id": source["id"],
        "offers": [{"offer_id": offer["id"], "weight": 100}],
    }
    campaign = _call(api, "POST", "/api/v1/campaigns", json=campaign_body)
    return _Setup(
        campaign_id=campaign["id"],
        tracking_url=campaign["tracking_url"],
        postback_url=network["postback_url"],
    )


def _send_clicks(
    http: httpx.Client, tracking_url: str, count: int, rng: random.Random, result: DemoResult
) -> list[str]:
    clickids: list[str] = []
    for _ in range(count):
        params = {
            "zone": rng.choice(ZONES),
            "sub1": rng.choice(CREATIVES),
            "external_id": f"src-{rng.randrange(16**8):08x}",
        }
        headers = {
            "User-Agent": rng.choice(USER_AGENTS),
            "Accept-Language": rng.choice(LANGUAGES),
        }
        resp = http.get(fill_url(tracking_url, params), headers=headers)
        result.clicks_sent += 1
        if resp.status_code != 302:
            continue
        result.redirects += 1
        clickid = dict(parse_qsl(urlsplit(resp.headers["location"]).query)).get("click")
        if clickid:
            clickids.append(clickid)
    return clickids


def _send_postbacks(
    http: httpx.Client,
    template: str,
    clickids: list[str],
    rng: random.Random,
    result: DemoResult,
) -> None:
    converted = [c for c in clickids if rng.random() < CONVERSION_SHARE]
    for n, clickid in enumerate(converted):
        values = {"clickid": clickid, "payout": rng.choice(PAYOUTS), "txid": f"demo-{n}"}
        url = fill_url(template, values)
        http.get(url)
        result.postbacks_sent += 1
        if rng.random() < DUPLICATE_SHARE:
            http.get(url)  # networks retry; the same (click, event, txid) must count once
            result.postbacks_sent += 1
    # What a broken integration looks like in the postback log: a click ID we never issued,
    # and a macro the network forgot to replace.
    for bad in (str(ULID()), "{clickid}"):
        http.get(fill_url(template, {"clickid": bad, "payout": "1.00"}))
        result.postbacks_sent += 1


def fill_url(template: str, values: dict[str, str]) -> str:
    """Fill a URL's macros the way a traffic source or network would, and add what it lacks.

    A parameter named like a value (`clickid=...`) takes that value too. Parameters whose macro
    has no value are dropped rather than sent as a literal `{payout}`.
    """
    # Split by hand: `##X##` and `#x#` macros would read as a fragment to urlsplit.
    base, _, query = template.partition("?")
    base = _MACRO.sub(lambda m: quote(values.get(_macro_name(m), m.group(0)), safe=""), base)
    pairs: list[tuple[str, str]] = []
    used: set[str] = set()
    for name, value in parse_qsl(query, keep_blank_values=True):
        match = _MACRO.fullmatch(value)
        macro = _macro_name(match) if match else name
        if macro in values:
            pairs.append((name, values[macro]))
            used.add(macro)
        elif match is None:
            pairs.append((name, value))
    pairs.extend((k, v) for k, v in values.items() if k not in used)
    return f"{base}?{urlencode(pairs)}" if pairs else base


def _macro_name(match: re.Match[str]) -> str:
    return next(g for g in match.groups() if g).lower()


def _read_back(api: httpx.Client, setup: _Setup, result: DemoResult, started: datetime) -> None:
    conversions = _all_items(api, "/api/v1/conversions", {"campaign_id": setup.campaign_id})
    result.conversions_accepted = len(conversions)
    result.revenue = _total_payout(conversions)
    # A refusal that happens before the network is resolved (a placeholder click ID) is logged
    # without a network_id, so select this run's requests by their path, which names the
    # network key. The time bound only keeps the read short; it allows for clock skew.
    since = (started - timedelta(minutes=10)).isoformat()
    log = _all_items(api, "/api/v1/postback-log", {"from": since})
    path = urlsplit(setup.postback_url).path
    ours = [e for e in log if e.get("path") == path]
    result.duplicates = sum(1 for e in ours if e.get("outcome") == "duplicate")
    refused = Counter(str(e.get("reason")) for e in ours if e.get("outcome") == "refused")
    result.refused = dict(refused)


def _all_items(api: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a paginated list (`{"items": [...], "next": cursor-or-null}`)."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": 500}
    for _ in range(100):
        page = _call(api, "GET", path, params=query)
        items.extend(page.get("items", []))
        cursor = page.get("next")
        if not cursor:
            break
        if str(cursor).startswith(("http://", "https://", "/")):
            path, query = str(cursor), {}
        else:
            query = {**params, "limit": 500, "cursor": cursor}
    return items


def _total_payout(conversions: list[dict[str, Any]]) -> str:
    total = Decimal(0)
    for item in conversions:
        try:
            total += Decimal(str(item.get("payout", 0)))
        except InvalidOperation:
            continue
    return f"{total:.2f}"
