"""Click rules without a server: the macro table an offer or lander URL is filled from, and the
tokens read from a tracking link's query."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from postback.clicks.service import (
    _OWN_MACROS,
    MAX_TOKENS,
    fill_click_url,
    read_tokens,
    tokens_from_query,
)
from postback.kit.asgi import query_pairs
from postback.kit.linter import OFFER_MACROS

NOW = datetime(2026, 11, 23, 4, 0, 5, tzinfo=UTC)


def click_row(**tokens: str) -> dict[str, Any]:
    return {
        "id": "01KAB0000000000000000000ZZ",
        "external_id": "ext 1",
        "campaign_id": 7,
        "country": "DE",
        "os": "Android",
        "device": "mobile",
        "browser": "Chrome Mobile",
        "tokens": tokens,
    }


def test_every_own_macro_is_filled_and_escaped() -> None:
    url = fill_click_url(
        "https://o.test/?c={clickid}&e={external_id}&k={campaign_id}&o={offer_id}"
        "&g={country}&s={os}&d={device}&b={browser}&t={timestamp}",
        click_row(),
        3,
        NOW,
    )
    assert url == (
        "https://o.test/?c=01KAB0000000000000000000ZZ&e=ext%201&k=7&o=3&g=DE&s=Android"
        f"&d=mobile&b=Chrome%20Mobile&t={int(NOW.timestamp())}"
    )


def test_own_values_win_over_tokens_and_other_names_are_tokens() -> None:
    row = click_row(country="XX", zone="z-9", Zone="upper")
    url = fill_click_url("https://o.test/?g={country}&z={zone}&Z={Zone}&n={none}", row, 3, NOW)
    assert url == "https://o.test/?g=DE&z=z-9&Z=upper&n="


def test_an_upper_case_name_falls_back_to_the_lower_case_one() -> None:
    row = click_row(zone="z-9")
    url = fill_click_url("https://o.test/?c={CLICKID}&z={ZONE}", row, None, NOW)
    assert url == "https://o.test/?c=01KAB0000000000000000000ZZ&z=z-9"


def test_a_missing_own_value_is_empty_not_a_token() -> None:
    row = click_row(external_id="from-token")
    row["external_id"] = None
    assert fill_click_url("https://o.test/?e={external_id}", row, None, NOW) == "https://o.test/?e="


def test_the_linter_knows_exactly_the_click_macros() -> None:
    assert set(_OWN_MACROS) == OFFER_MACROS


QUERY_PIECES = st.sampled_from(["zone", "sub1", "a", "=", "&", "&&", "x=1", "%20", "+", "é", ""])


@given(st.lists(QUERY_PIECES, max_size=30).map("".join))
def test_tokens_from_a_query_equal_reading_its_pairs(query: str) -> None:
    assert tokens_from_query(query) == read_tokens(query_pairs(query))


def test_tokens_keep_the_first_value_and_stop_at_the_limit() -> None:
    many = "&".join(f"t{i}={i}" for i in range(MAX_TOKENS + 5))
    assert tokens_from_query("zone=1&zone=2&=x&&sub1=") == {"zone": "1", "sub1": ""}
    assert len(tokens_from_query(many)) == MAX_TOKENS
    assert tokens_from_query("zone=a+b%26c") == {"zone": "a b&c"}


# What a server process does at start-up, then what its first click looks up; printed: how
# many references a full garbage collection walks afterwards.
_STARTUP_THEN_A_CLICK = """
import asyncio, gc, sys
from postback.app import PostbackApp
from postback.clicks.visitor import country_of, device_of
from postback.config import Settings
from postback.kit.migrate import upgrade

settings = Settings(database_url=sys.argv[1], _env_file=None)
upgrade(settings)

async def main():
    app = PostbackApp(settings)
    app.start()
    try:
        country_of("8.8.8.8")
        device_of("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36")
        gc.collect()
        print(sum(len(gc.get_referents(o)) for o in gc.get_objects()))
    finally:
        app.stop()

asyncio.run(main())
"""


def test_the_collector_never_walks_the_geoip_data_after_start_up(tmp_path: Path) -> None:
    """The GeoIP database is about a million list slots. Loaded on the first click, after
    start-up froze the heap, every full collection walked it (6 ms, requests waiting); loaded
    at start-up, it is frozen with the rest."""
    url = f"sqlite:///{tmp_path / 'gc.db'}"
    done = subprocess.run(
        [sys.executable, "-c", _STARTUP_THEN_A_CLICK, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    walked = int(done.stdout.split()[-1])
    assert walked < 100_000, walked
