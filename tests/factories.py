"""Config rows for tests, written straight through the ORM (the admin API has its own tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from postback.kit.ids import new_id, new_key
from postback.models import Campaign, Network, Offer, TrafficSource
from postback.networks.service import new_secret
from tests.conftest import LiveServer


@dataclass
class Setup:
    campaign_key: str
    campaign_id: int
    network_key: str
    network_id: int
    offer_id: int
    source_id: int
    token: str | None = None

    @property
    def postback(self) -> str:
        """The network's postback path with its token, ready for `&clickid=...` or params=."""
        path = f"/postback/{self.network_key}"
        return f"{path}?token={self.token}" if self.token else path

    def with_token(self, params: dict[str, str]) -> dict[str, str]:
        """Postback parameters with the network's token, for `params=` (which replaces the
        query of `postback`)."""
        return {**params, "token": self.token} if self.token else params


def make_setup(
    live: LiveServer,
    *,
    network: dict[str, Any] | None = None,
    offer: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> Setup:
    """A traffic source, a network, an offer and a campaign. The network has a generated
    secret, as the API gives one, unless `network` says `{"secret": None}` (the opt-out)."""
    network = {"secret": new_secret(), **(network or {})}
    with live.runtime.db.session() as s:
        src = TrafficSource(name="source", external_id_param="subid", **(source or {}))
        net = Network(key=new_key(), name="network", **network)
        s.add_all([src, net])
        s.flush()
        off = Offer(
            name="offer",
            url="https://offer.test/?click={clickid}",
            network_id=net.id,
            **(offer or {}),
        )
        s.add(off)
        s.flush()
        camp = Campaign(
            key=new_key(),
            name="campaign",
            traffic_source_id=src.id,
            paths=[one_path(off.id)],
        )
        s.add(camp)
        s.flush()
        return Setup(camp.key, camp.id, net.key, net.id, off.id, src.id, net.secret)


def one_path(offer_id: int) -> dict[str, object]:
    """A campaign's stored paths value with one path to one offer."""
    return {"name": "default", "weight": 100, "landers": [], "offers": [[offer_id, 1]]}


def click(http: httpx.Client, setup: Setup, **tokens: str) -> str:
    """Send one click through the tracking link; returns the click ID from the redirect."""
    resp = http.get(f"/c/{setup.campaign_key}", params=tokens)
    assert resp.status_code == 302, resp.text
    return parse_qs(urlsplit(resp.headers["location"]).query)["click"][0]


def conversion_row(
    click_id: str, campaign_id: int, source_id: int, at: datetime, **overrides: Any
) -> dict[str, Any]:
    """A minimal approved conversion of 1 micro-unit, as a row for a Core insert."""
    row: dict[str, Any] = {
        "id": new_id(), "click_id": click_id, "dedupe_key": "", "created_at": at,
        "updated_at": at, "click_at": at, "campaign_id": campaign_id,
        "traffic_source_id": source_id, "event": "conversion", "status": "approved",
        "payout_micros": 1, "revenue_micros": 1, "commission_micros": 0, "cost_micros": 0,
        "original_amount": "1", "original_currency": "USD", "fx_rate": "1", "params": {},
        "is_test": False, "source": "postback", "flags": 0,
    }  # fmt: skip
    row = {**row, **overrides}
    row.setdefault("event_key", row["event"])
    row.setdefault("amount_micros", None)
    row.setdefault("original_sale_amount", None)
    return row
