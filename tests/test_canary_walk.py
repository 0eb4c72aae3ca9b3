"""One canary per kind of secret, planted everywhere a secret can be configured or sent, then
every admin API GET endpoint (from the OpenAPI document), every dashboard page reachable from
the nav (as an admin and as a viewer), the CLI's list and show commands, the postback log and
the application log are read: the canary shows nowhere but where the product deliberately
shows a secret to an admin. Those places are listed here (EXCEPTIONS) and in docs/postbacks.md.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from sqlalchemy import select

from postback.models import Click, Conversion, Delivery, PostbackLogEntry
from postback.users.tables import Role
from tests.conftest import ADMIN_KEY, LiveServer
from tests.receiver import Receiver, running_receiver
from tests.signin import make_user, signed_in_client
from tests.test_cli import run_cli
from tests.test_deliveries import run_at, worker
from tests.test_secret_redaction import Captured, spellings

NET = "NetCanary+Secret/42=zz-0123"  # the network's token
SIGN = "NetSigningCanary-98765"  # the network's HMAC signing secret
SRC = "SrcCanary+Key/77=q"  # the traffic source's key, in its postback URL's query
PATH = "PathCanary7f3a9c2e1b"  # the traffic source's key, in its postback URL's path
WEBHOOK = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # Standard Webhooks signing secret
HEADER = "HeaderCanary-31337"  # sent in request headers only
CANARIES = {
    "NET": NET, "SIGN": SIGN, "SRC": SRC, "PATH": PATH, "WEBHOOK": WEBHOOK,
    "WEBHOOK_KEY": WEBHOOK.removeprefix("whsec_"), "HEADER": HEADER,
}  # fmt: skip

# Where an admin is shown a secret on purpose, and which: (pattern of the path, canaries).
EXCEPTIONS = {
    "api": [
        # One network read by id: its secrets, and its postback URL with the token to paste.
        (r"/api/v1/networks/\d+", {"NET", "SIGN"}),
        # One traffic source read by id: its postback URL whole (to edit) and signing secret.
        (r"/api/v1/traffic-sources/\d+", {"SRC", "PATH", "WEBHOOK", "WEBHOOK_KEY"}),
        # A campaign's links: the network's postback URL with its token, the source's URL.
        (r"/api/v1/campaigns/\d+/links", {"NET", "SRC", "PATH"}),
    ],
    "admin": [
        (r"/setup/networks/\d+", {"NET"}),  # the secret field and the postback URL
        (r"/setup/traffic-sources/\d+", {"SRC", "PATH"}),  # the postback URL field
        (r"/campaigns/\d+", {"NET", "SRC", "PATH"}),  # the links to paste
        (r"/wizard", {"NET"}),  # the network's postback URL to paste
    ],
    "viewer": [],
    "cli": [],
}
MAX_PAGES = 250


def leaks(content: str, where: str, kind: str) -> list[str]:
    allowed: set[str] = set()
    for pattern, names in EXCEPTIONS[kind]:
        if re.fullmatch(pattern, where.split("?")[0]):
            allowed |= names
    return [
        f"{where}: {name}"
        for name, secret in CANARIES.items()
        if name not in allowed and any(form in content for form in spellings(secret))
    ]


@pytest.fixture
def app_log() -> Iterator[Captured]:
    """Every line the application logs at any level, for the whole test."""
    logger = logging.getLogger("postback")
    handler, level = Captured(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def post(http: httpx.Client, path: str, body: dict[str, object]) -> dict[str, object]:
    answer = http.post(path, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def plant(http: httpx.Client, receiver: Receiver) -> dict[str, object]:
    """Network, sources, offer, campaigns, clicks, accepted and refused postbacks."""
    net = post(
        http, "/api/v1/networks", {"name": "net", "secret": NET, "aliases": {"sec": "token"}}
    )
    post(http, "/api/v1/networks", {"name": "signed net", "signing_secret": SIGN})
    key = quote(SRC, safe="")
    keyed = post(http, "/api/v1/traffic-sources", {
        "name": "keyed", "postback_url":
            f"{receiver.url}/echo/{PATH}/pb?key={key}&clickid={{external_id}}&p={{payout}}",
    })  # fmt: skip
    signed = post(http, "/api/v1/traffic-sources", {
        "name": "signed", "postback_signing_secret": WEBHOOK,
        "postback_url": f"{receiver.url}/ok?clickid={{external_id}}",
    })  # fmt: skip
    offer = post(http, "/api/v1/offers", {
        "name": "offer", "url": "https://offer.test/?c={clickid}", "network_id": net["id"],
    })  # fmt: skip
    clicks = []
    for source in (keyed, signed):
        campaign = post(http, "/api/v1/campaigns", {
            "name": f"via {source['name']}", "traffic_source_id": source["id"],
            "offers": [{"offer_id": offer["id"]}],
        })  # fmt: skip
        for n in range(2):
            answer = http.get(f"/c/{campaign['key']}", params={"subid": f"EXT{n}"})
            assert answer.status_code == 302
            clicks.append(answer.headers["location"].split("c=")[1])
    send_postbacks(http, str(net["key"]), clicks)
    return net


def send_postbacks(http: httpx.Client, key: str, clicks: list[str]) -> None:
    pb = f"/postback/{key}"
    headers = {"Authorization": f"Bearer {HEADER}", "X-Token": HEADER, "Cookie": f"t={HEADER}"}
    form = {"content-type": "application/x-www-form-urlencoded"}
    accepted = [
        http.get(pb, params={"clickid": clicks[0], "token": NET, "payout": "2"}, headers=headers),
        http.get(pb, params={"clickid": clicks[1], "sec": NET, "payout": "1"}),
        http.post(pb, content=f"clickid={clicks[2]}&token={quote_plus(NET)}", headers=form),
        http.post(pb, json={"clickid": clicks[3], "token": NET}, headers=headers),
    ]
    assert [a.status_code for a in accepted] == [200] * 4, [a.text for a in accepted]
    refused = [
        http.get(pb, params={"clickid": clicks[0], "token": "wrong", "key": NET}),
        http.get(f"{pb}/{quote(NET, safe='')}", params={"clickid": clicks[0]}),
        http.get(f"/postback/{quote(NET, safe='')}", params={"clickid": clicks[0]}),
        http.post(pb, content='{"token": "' + NET + '", ', headers={"content-type": "x/json"}),
        http.get("/postback", params={"clickid": "unknown", "signature": SIGN}, headers=headers),
        http.get("/postback", params={"clickid": clicks[1], "key": SRC}),
    ]
    assert all(400 <= r.status_code < 500 for r in refused), [r.text for r in refused]


def api_paths(http: httpx.Client, ids: dict[str, list[str]]) -> list[str]:
    """Every GET of the admin API, each path parameter filled with every id of its kind."""
    schema = http.get("/api/openapi.json").json()
    paths = []
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        filled = [path]
        for name in re.findall(r"\{(\w+)\}", path):
            filled = [p.replace(f"{{{name}}}", v) for p in filled for v in ids[name]]
        paths += filled
    return paths


def crawl(client: httpx.Client) -> dict[str, str]:
    """Every page reachable from the nav by links (same site, GET), up to MAX_PAGES."""
    from postback.dashboard.nav import NAV

    queue = [item.path for item in NAV]
    seen: dict[str, str] = {}
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        answer = client.get(path)
        assert answer.status_code < 500, path
        seen[path] = answer.text
        for link in re.findall(r'href="(/[^"#]*)"', answer.text):
            link = html.unescape(link)
            if not link.startswith(("/static/", "/logout", "/api/")) and link not in seen:
                queue.append(link)
    return seen


def test_the_canary_shows_only_where_an_admin_is_meant_to_see_it(
    live: LiveServer, http: httpx.Client, receiver: Receiver, tmp_path: Path, app_log: Captured
) -> None:
    plant(http, receiver)
    assert run_at(worker(live), datetime.now(UTC)) == 4
    assert receiver.hits and all(PATH in h.path for h in receiver.hits if "echo" in h.path)
    with live.runtime.db.session() as s:
        ids = {
            "clickid": list(s.scalars(select(Click.id))),
            "conversion_id": list(s.scalars(select(Conversion.id))),
            "delivery_id": list(s.scalars(select(Delivery.id))),
            "entry_id": list(s.scalars(select(PostbackLogEntry.id))),
        }
        log_rows = list(s.scalars(select(PostbackLogEntry)))
    api = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for kind, listing in (("network_id", "networks"), ("source_id", "traffic-sources"),
                          ("offer_id", "offers"), ("campaign_id", "campaigns"),
                          ("lander_id", "landers"), ("key_id", "api-keys")):  # fmt: skip
        items = http.get(f"/api/v1/{listing}", headers=api).json()["items"]
        ids[kind] = [str(i["id"]) for i in items] or ["1"]
    ids["name"] = ["custom"]
    found: list[str] = []
    for entry in log_rows:
        text = " ".join([entry.path, entry.query, entry.body, str(entry.parsed)])
        found += leaks(text, f"postback log {entry.id}", "viewer")
    for path in api_paths(http, ids):
        answer = http.get(path, headers=api)
        assert answer.status_code < 500, path
        found += leaks(answer.text, path, "api")
    for role in (Role.ADMIN, Role.VIEWER):
        with signed_in_client(live, make_user(live, role)) as client:
            pages = crawl(client)
        assert any(p.startswith("/deliveries/") for p in pages), sorted(pages)
        for path, content in pages.items():
            found += leaks(content, path, "admin" if role == Role.ADMIN else "viewer")
    env = {"POSTBACK_DATABASE_URL": live.settings.database_url, "COLUMNS": "400"}
    commands = [["deliveries", "list"], ["user", "list"]]
    commands += [["deliveries", "show", d] for d in ids["delivery_id"]]
    commands += [["check", "explain", c] for c in ids["clickid"]]
    for args in commands:
        for fmt in ("table", "json"):
            result = run_cli(*args, "--format", fmt, cwd=tmp_path, env=env)
            assert result.returncode == 0, (args, result.stderr)
            found += leaks(result.stdout + result.stderr, " ".join(args), "cli")
    found += leaks("\n".join(app_log.lines), "application log", "viewer")
    assert not found, "\n".join(found)
    # The exceptions are real: an admin does see these secrets there.
    network = http.get(f"/api/v1/networks/{ids['network_id'][0]}", headers=api).json()
    assert NET in network["secret"] or NET in (network.get("postback_url") or "")
