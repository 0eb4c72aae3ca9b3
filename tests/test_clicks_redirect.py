"""The click redirect over real HTTP (fixtures create config rows directly)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from postback.models import Campaign, Click, Offer, TrafficSource
from tests.conftest import LiveServer
from tests.factories import one_path


def make_campaign(live: LiveServer, url: str, **campaign: object) -> str:
    with live.runtime.db.session() as s:
        src = TrafficSource(name="src", external_id_param="subid")
        s.add(src)
        s.flush()
        offer = Offer(name="offer", url=url)
        s.add(offer)
        s.flush()
        camp = Campaign(
            key="k" + str(src.id),
            name="c",
            traffic_source_id=src.id,
            paths=[one_path(offer.id)],
            **campaign,
        )
        s.add(camp)
        s.flush()
        return camp.key


def test_click_is_stored_before_the_redirect_and_macros_are_filled(
    live: LiveServer, http: httpx.Client
) -> None:
    key = make_campaign(live, "https://offer.test/?cid={clickid}&zone={zone}&ext={external_id}")
    resp = http.get(f"/c/{key}", params={"zone": "a b&c", "subid": "ext-1"})
    assert resp.status_code == 302
    assert resp.headers["cache-control"] == "no-store"
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    assert query["zone"] == ["a b&c"]
    assert query["ext"] == ["ext-1"]
    clickid = query["cid"][0]
    assert len(clickid) == 26
    with live.runtime.db.session() as s:
        click = s.scalars(select(Click).where(Click.id == clickid)).one()
    assert click.external_id == "ext-1"
    assert click.tokens == {"zone": "a b&c", "subid": "ext-1"}


def test_unknown_campaign_is_404_and_head_records_nothing(
    live: LiveServer, http: httpx.Client
) -> None:
    assert http.get("/c/nope").status_code == 404
    key = make_campaign(live, "https://offer.test/?cid={clickid}")
    assert http.head(f"/c/{key}").status_code == 302
    with live.runtime.db.session() as s:
        assert s.scalars(select(Click)).all() == []


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    live: LiveServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_campaign(live, "https://offer.test/?cid={clickid}")
    forged = {"X-Forwarded-For": "81.2.69.142"}  # a GB address

    def stored_click() -> Click:
        resp = http.get(f"/c/{key}", headers=forged)
        clickid = parse_qs(urlsplit(resp.headers["location"]).query)["cid"][0]
        with live.runtime.db.session() as s:
            return s.scalars(select(Click).where(Click.id == clickid)).one()

    # POSTBACK_TRUSTED_PROXIES empty: nobody's header is believed, not even from 127.0.0.1.
    untrusted = stored_click()
    assert (untrusted.ip, untrusted.country) == ("127.0.0.1", None)
    monkeypatch.setattr(live.runtime, "trusted_proxies", frozenset({"127.0.0.1"}))
    trusted = stored_click()
    assert (trusted.ip, trusted.country) == ("81.2.69.142", "GB")
