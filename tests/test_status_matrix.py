"""The status ledger's transition matrix (docs/postbacks.md), every status to every status:
what a repeated postback may do in each duplicate mode, and what an admin's change may do."""

from __future__ import annotations

from itertools import product

import httpx
import pytest
from sqlalchemy import func, select

from postback.models import Conversion, ConversionStatusChange
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

STATUSES = ("pending", "approved", "rejected", "refunded", "chargeback")
# The documented matrix, written out here rather than imported: from -> what a postback may
# move it to. Refunded and chargeback are final for postbacks; pending never comes back.
POSTBACK_MAY = {
    "pending": {"approved", "rejected", "refunded", "chargeback"},
    "approved": {"rejected", "refunded", "chargeback"},
    "rejected": {"approved", "refunded", "chargeback"},
    "refunded": set(),
    "chargeback": set(),
}
MODES = ("ignore", "new_per_txid", "update", "accumulate")


def current(live: LiveServer, cid: str) -> tuple[str, int, int]:
    with live.runtime.db.session() as s:
        row = s.execute(
            select(Conversion.status, Conversion.payout_micros, Conversion.revenue_micros).where(
                Conversion.click_id == cid
            )
        ).one()
        ledger = s.execute(
            select(func.sum(ConversionStatusChange.revenue_delta_micros))
            .join(Conversion, Conversion.id == ConversionStatusChange.conversion_id)
            .where(Conversion.click_id == cid)
        ).scalar_one()
    assert ledger == row.revenue_micros  # the ledger's deltas always sum to the revenue
    return row.status, row.payout_micros, row.revenue_micros


def send(http: httpx.Client, setup: Setup, cid: str, status: str, payout: str) -> httpx.Response:
    query = f"clickid={cid}&txid=T1&payout={payout}&status={status}"
    return http.get(f"{setup.postback}&{query}")


@pytest.mark.parametrize("mode", MODES)
def test_postback_transition_matrix(live: LiveServer, http: httpx.Client, mode: str) -> None:
    setup = make_setup(live, network={"duplicate_mode": mode})
    for old, new in product(STATUSES, STATUSES):
        cid = click(http, setup)
        assert send(http, setup, cid, old, "10").text.startswith("OK accepted")
        before = current(live, cid)
        resp = send(http, setup, cid, new, "10")
        if new == old:
            payout_changes = mode == "accumulate"  # a repeat adds its payout
            if payout_changes and old in ("refunded", "chargeback"):
                assert resp.status_code == 409, (old, new, resp.text)
                assert current(live, cid) == before
            elif payout_changes:
                assert resp.text.strip() == "OK updated", (old, new, resp.text)
            else:
                assert resp.text.strip() == "OK duplicate", (old, new, resp.text)
        elif new in POSTBACK_MAY[old]:
            assert resp.text.strip() == "OK updated", (old, new, resp.text)
            assert current(live, cid)[0] == new
        else:
            assert resp.status_code == 409, (old, new, resp.text)
            assert resp.text.startswith("ERROR status_locked"), resp.text
            assert current(live, cid) == before


@pytest.mark.parametrize("mode", MODES)
def test_a_repeated_approval_does_not_undo_a_chargeback(
    live: LiveServer, http: httpx.Client, mode: str
) -> None:
    setup = make_setup(live, network={"duplicate_mode": mode})
    cid = click(http, setup)
    assert send(http, setup, cid, "approved", "10").text.startswith("OK accepted")
    assert send(http, setup, cid, "chargeback", "10").text.strip() == "OK updated"
    after_chargeback = current(live, cid)
    assert after_chargeback[2] == 0
    for status in ("approved", "pending", "refunded"):
        assert send(http, setup, cid, status, "10").status_code == 409
    assert current(live, cid) == after_chargeback


@pytest.mark.parametrize("mode", ["update", "accumulate"])
def test_a_refunded_conversion_keeps_its_payout(
    live: LiveServer, http: httpx.Client, mode: str
) -> None:
    setup = make_setup(live, network={"duplicate_mode": mode})
    cid = click(http, setup)
    send(http, setup, cid, "approved", "10")
    send(http, setup, cid, "refunded", "10")
    before = current(live, cid)
    resp = http.get(f"{setup.postback}&clickid={cid}&txid=T1&payout=99")
    assert resp.status_code == 409 and "status_locked" in resp.text, resp.text
    assert current(live, cid) == before


def test_manual_transition_matrix(live: LiveServer, http: httpx.Client, api: httpx.Client) -> None:
    """An admin may make every move, out of refunded and chargeback too."""
    setup = make_setup(live)
    for old, new in product(STATUSES, STATUSES):
        cid = click(http, setup)
        created = api.post("/api/v1/conversions", json={"clickid": cid, "payout": "10",
                                                        "status": old})  # fmt: skip
        assert created.status_code == 201, created.text
        resp = api.patch(f"/api/v1/conversions/{created.json()['id']}", json={"status": new})
        assert resp.status_code == 200, (old, new, resp.text)
        assert resp.json()["result"] == ("unchanged" if old == new else "updated")
        status, _, revenue = current(live, cid)
        assert (status, revenue) == (new, 10_000_000 if new == "approved" else 0)


def test_a_manual_create_is_held_to_the_postback_matrix(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    send(http, setup, cid, "chargeback", "10")
    resp = api.post("/api/v1/conversions", json={"clickid": cid, "status": "approved",
                                                 "txid": "T1"})  # fmt: skip
    assert resp.status_code == 409 and resp.json()["error"] == "status_locked", resp.text
