"""Fuzzing the public endpoints over real HTTP, on both databases.

Postbacks: any method, path, query, body, content type and size gets an answer below 500 and
leaves exactly one postback-log row. Clicks: any query and headers get a 302 or a 404, and a
302 never points at a host other than the offer's. Bounded so that each runs in seconds.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from postback.conversions.receiver import is_postback_path
from postback.models import Offer, PostbackLogEntry
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UVICORN_REFUSED = "Invalid HTTP request received."

raw_text = st.binary(max_size=300).map(lambda b: quote(b, safe="/=&").replace(".", "%2E"))
printable_latin1 = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=600
)


JSON_VALUES = st.sampled_from(
    ["[" * 300 + "]" * 300, '"\\u0000"', "1e999", "-0", '{"a": [1, {}]}', "null"]
)


def log_count(live: LiveServer) -> int:
    with live.runtime.db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(PostbackLogEntry)) or 0)


@st.composite
def postback_requests(draw: st.DrawFn, setup: Setup, cid: str) -> dict[str, object]:
    prefix = draw(
        st.sampled_from(
            [
                "/postback",
                f"/postback/{setup.network_key}",
                "/postback/",
                "/name/",
                f"/name/{setup.network_key}/at",
                "/code/",
                f"/code/EUR/{setup.network_key}/at",
            ]
        )
    )
    path = prefix + draw(st.one_of(st.just(""), raw_text))
    query = draw(
        st.one_of(
            raw_text,
            st.builds(lambda v: f"clickid={cid}&payout={v}&txid={v}", raw_text),
            st.builds(lambda v: f"clickid={v}", raw_text),
        )
    )
    body = draw(
        st.one_of(
            st.binary(max_size=2000),
            st.builds(lambda v: f'{{"clickid": "{cid}", "x": {v}}}'.encode(), JSON_VALUES),
            st.builds(lambda n: b"x" * n, st.sampled_from([65_536, 65_537, 70_000])),
        )
    )
    content_type = draw(
        st.sampled_from(
            [
                None,
                "application/json",
                "application/x-www-form-urlencoded",
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/json; charset=latin-1",
            ]
        )
    )
    method = draw(
        st.sampled_from(
            ["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH", "MKCALENDAR", "PURGE"]
        )
    )
    headers = {"Content-Type": content_type} if content_type else {}
    if draw(st.booleans()):
        headers["Accept"] = "application/json"
    return {"method": method, "url": f"{path}?{query}", "content": body, "headers": headers}


def test_any_postback_is_answered_below_500_with_one_log_row(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, network={"secret": None})  # past authentication, into the rules
    cid = click(http, setup)

    @FUZZ
    @given(request=postback_requests(setup, cid))
    def check(request: dict[str, object]) -> None:
        before = log_count(live)
        resp = http.request(**request)  # type: ignore[arg-type]
        assert resp.status_code < 500, (request["method"], request["url"], resp.text[:300])
        if resp.status_code == 400 and resp.text.startswith(UVICORN_REFUSED):
            return  # refused by the HTTP server before it reached the app
        reached = is_postback_path(unquote(urlsplit(str(request["url"])).path))
        assert log_count(live) == before + reached, (request["method"], request["url"])

    check()


def test_any_click_is_a_redirect_to_the_offer_host_or_a_404(
    live: LiveServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live.runtime, "trusted_proxies", frozenset({"127.0.0.1"}))
    setup = make_setup(live)
    with live.runtime.db.session() as s:
        offer = s.get(Offer, setup.offer_id)
        assert offer is not None
        offer.url = "https://{sub4}offer.test/p/{zone}?c={clickid}&s={sub1}&{sub2}={sub3}#{sub5}"

    @FUZZ
    @given(
        key=st.one_of(st.just(setup.campaign_key), raw_text),
        query=st.one_of(
            raw_text,
            st.builds(
                lambda a, b: f"zone={a}&sub1={b}&sub2={b}&sub3={a}&sub4={a}&sub5={b}",
                raw_text,
                raw_text,
            ),
        ),
        head=st.booleans(),
        agent=printable_latin1,
        referer=printable_latin1,
        language=printable_latin1,
        forwarded=printable_latin1,
    )
    def check(
        key: str, query: str, head: bool, agent: str, referer: str, language: str, forwarded: str
    ) -> None:
        headers = {
            "User-Agent": agent.strip(" \t").encode("latin-1"),
            "Referer": referer.strip(" \t").encode("latin-1"),
            "Accept-Language": language.strip(" \t").encode("latin-1"),
            "X-Forwarded-For": forwarded.strip(" \t").encode("latin-1"),
        }
        resp = http.request("HEAD" if head else "GET", f"/c/{key}?{query}", headers=headers)
        if resp.status_code == 400 and resp.text.startswith(UVICORN_REFUSED):
            return
        assert resp.status_code in (302, 404), (key, query, resp.text[:300])
        if resp.status_code == 302:
            assert urlsplit(resp.headers["location"]).netloc == "offer.test"

    check()
