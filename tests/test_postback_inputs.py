"""Inbound postbacks with hostile input: each gets a 4xx reason code (or is processed) and
leaves exactly one log row, on both databases."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select

from postback.models import Conversion, PostbackLogEntry
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

Send = Callable[[httpx.Client, Setup, str], httpx.Response]


def log_count(live: LiveServer) -> int:
    with live.runtime.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(PostbackLogEntry)) or 0)


def last_log(live: LiveServer) -> PostbackLogEntry:
    with live.runtime.db.session() as s:
        return s.scalars(select(PostbackLogEntry).order_by(PostbackLogEntry.id.desc())).first()


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


CASES: dict[str, tuple[Send, int, str]] = {
    "json nested 300 levels in a value": (
        lambda h, s, cid: h.post(
            f"/postback/{s.network_key}",
            content=f'{{"clickid": "{cid}", "x": {_deep(300)}}}',
            headers={"Content-Type": "application/json"},
        ),
        400,
        "invalid_body",
    ),
    "json nested 2000 levels": (
        lambda h, s, cid: h.post(
            f"/postback/{s.network_key}",
            content='{"x": ' + _deep(2000) + "}",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "invalid_body",
    ),
    "NUL in the click ID": (
        lambda h, s, cid: h.get(f"/postback/{s.network_key}?clickid={cid[:5]}%00{cid[6:]}"),
        404,
        "unknown_click",
    ),
    "NUL in the txid": (
        lambda h, s, cid: h.get(f"/postback/{s.network_key}?clickid={cid}&txid=a%00b"),
        200,
        "accepted",
    ),
    "NUL in a JSON value and name": (
        lambda h, s, cid: h.post(
            f"/postback/{s.network_key}",
            content=f'{{"clickid": "{cid}", "txid": "a\\u0000", "s\\u0000": "\\u0000"}}',
        ),
        200,
        "accepted",
    ),
    "NUL in a form body": (
        lambda h, s, cid: h.post(
            f"/postback/{s.network_key}",
            content=f"clickid={cid}&sub1=a\x00b&c\x00=1".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        200,
        "accepted",
    ),
    "NUL bytes in a text body": (
        lambda h, s, cid: h.post(
            f"/postback/{s.network_key}?clickid={cid}",
            content=b"\x00\x00junk\x00",
            headers={"Content-Type": "text/plain"},
        ),
        200,
        "accepted",
    ),
    "NUL in the network key": (
        lambda h, s, cid: h.get(f"/postback/{s.network_key}%00?clickid={cid}"),
        404,
        "unknown_network",
    ),
    "a network key longer than its column": (
        lambda h, s, cid: h.get(f"/postback/{'k' * 40}?clickid={cid}"),
        404,
        "unknown_network",
    ),
    "NUL in the path currency": (
        lambda h, s, cid: h.get(f"/code/U%00D/{s.network_key}/at?clickid={cid}"),
        400,
        "invalid_currency",
    ),
    "a path currency longer than a code": (
        lambda h, s, cid: h.get(f"/code/EUROS/{s.network_key}/at?clickid={cid}"),
        400,
        "invalid_currency",
    ),
    "an unknown method longer than its column": (
        lambda h, s, cid: h.request("MKCALENDAR", f"/postback/{s.network_key}"),
        405,
        "method_not_allowed",
    ),
    "a lower-case click ID": (
        lambda h, s, cid: h.get(f"/postback/{s.network_key}?clickid={cid.lower()}"),
        200,
        "accepted",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_postbacks_get_a_reason_code_and_one_log_row(
    live: LiveServer, http: httpx.Client, case: str
) -> None:
    send, status, reason = CASES[case]
    setup = make_setup(live, network={"secret": None})  # the inputs, not the token, under test
    cid = click(http, setup)
    before = log_count(live)
    resp = send(http, setup, cid)
    answer = resp.text.split(":")[0].split()  # "OK accepted <id>", "ERROR <reason>: ..."
    assert (resp.status_code, answer[1]) == (status, reason), resp.text
    assert log_count(live) == before + 1
    entry = last_log(live)
    assert (entry.reason, entry.http_status) == (reason, status)
    assert "\x00" not in f"{entry.method}{entry.path}{entry.query}{entry.body}{entry.parsed}"


def test_a_lower_case_click_id_converts_the_click(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live, network={"secret": None})
    cid = click(http, setup)
    resp = http.get(f"/postback/{setup.network_key}?clickid={cid.lower()}&payout=1")
    assert resp.status_code == 200, resp.text
    with live.runtime.db.session() as s:
        [conversion] = s.scalars(select(Conversion)).all()
    assert conversion.click_id == cid
    assert last_log(live).click_id == cid


def test_a_huge_signature_timestamp_is_a_bad_signature(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, network={"signing_secret": "s3cret-signing", "secret": None})
    cid = click(http, setup)
    headers = {"X-Postback-Timestamp": "1" + "0" * 400, "X-Postback-Signature": "sha256=00"}
    resp = http.get(f"/postback/{setup.network_key}?clickid={cid}", headers=headers)
    assert resp.status_code == 403, resp.text
    assert last_log(live).reason == "bad_signature"


def test_the_log_is_filtered_by_a_click_id_in_any_case(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live, network={"secret": None})
    cid = click(http, setup)
    http.get(f"/postback/{setup.network_key}?clickid={cid.lower()}")
    for asked in (cid, cid.lower()):
        rows = api.get("/api/v1/postback-log", params={"clickid": asked}).json()["items"]
        assert [r["clickid"] for r in rows] == [cid]
