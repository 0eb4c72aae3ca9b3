"""Real traffic for tests that read numbers back: clicks through the tracking link and
conversions through the postback URL, over HTTP, as a traffic source and a network send them."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup


@dataclass(frozen=True)
class Traffic:
    setup: Setup
    click_ids: list[str]
    conversions: int
    payout: str


def send_traffic(
    live: LiveServer,
    http: httpx.Client,
    *,
    clicks: int = 3,
    conversions: int = 2,
    payout: str = "2.5",
) -> Traffic:
    """A campaign, `clicks` clicks and `conversions` approved conversions of `payout` each."""
    assert conversions <= clicks
    setup = make_setup(live)
    ids = [click(http, setup, zone=str(i)) for i in range(clicks)]
    for n, cid in enumerate(ids[:conversions]):
        params = {"clickid": cid, "payout": payout, "txid": f"order-{n}"}
        resp = http.get(setup.postback, params=setup.with_token(params))
        assert resp.status_code == 200 and resp.text.startswith("OK accepted"), resp.text
    return Traffic(setup, ids, conversions, payout)
