"""Click IDs: ULIDs that a reference implementation reads back, unique and time-sorted."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from ulid import ULID

from postback.kit.ids import looks_like_click_id, new_click_id, ulid_floor
from postback.kit.macros import fill


def test_click_ids_are_ulids_the_reference_library_parses() -> None:
    before = int(time.time() * 1000)
    clickid = new_click_id()
    after = int(time.time() * 1000)
    parsed = ULID.from_str(clickid)
    assert str(parsed) == clickid
    assert before <= parsed.milliseconds <= after
    assert looks_like_click_id(clickid)


def test_click_ids_are_unique_and_sort_by_time() -> None:
    first = [new_click_id() for _ in range(20_000)]
    time.sleep(0.002)
    later = new_click_id()
    assert len(set(first)) == len(first)
    assert max(first) < later
    # 80 random bits: two ids of the same millisecond still differ in their random part.
    assert len({c[10:] for c in first}) == len(first)


def test_templates_escape_values_but_keep_plain_ones() -> None:
    template = "https://o.test/p?c={clickid}&z={zone}&missing={nope}&é={Zone}"
    url = fill(template, {"clickid": "01ABC-x_y.z~", "zone": "a b&c/é"})
    assert url == (
        "https://o.test/p?c=01ABC-x_y.z~&z=a%20b%26c%2F%C3%A9&missing=&%C3%A9=a%20b%26c%2F%C3%A9"
    )


def test_random_part_uses_every_character_evenly() -> None:
    counts = Counter(ch for _ in range(4_000) for ch in new_click_id()[10:])
    assert len(counts) == 32
    # 64,000 characters, 2,000 expected per character: a 5-bit mask of uniform bytes is uniform.
    assert min(counts.values()) > 1_700 and max(counts.values()) < 2_300


def test_a_forked_child_does_not_repeat_its_parents_pooled_ids() -> None:
    new_click_id()  # the parent's pool now holds ids not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.close(read)
        os.write(write, " ".join(new_click_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {new_click_id()[10:] for _ in range(50)}
    assert len(child) == 50
    assert not parent & {c[10:] for c in child}


def test_ulid_floor_bounds_the_ids_of_its_millisecond() -> None:
    moment = datetime.now(UTC)
    before = ulid_floor(moment)
    made = new_click_id()
    after = ulid_floor(moment + timedelta(seconds=5))
    assert before <= made < after
    assert ULID.from_str(before).milliseconds == int(moment.timestamp() * 1000)
    assert ulid_floor(datetime(1960, 1, 1, tzinfo=UTC)) == "0" * 26
