"""`postback check`, run as a user runs it: a separate process on the server's database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
from sqlalchemy import select

from postback.kit.ids import new_id
from postback.models import PostbackLogEntry
from tests.conftest import LiveServer
from tests.factories import click, make_setup
from tests.test_cli import assert_one_line_error, run_cli


def check(live: LiveServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "POSTBACK_DATABASE_URL": live.settings.database_url,
        "POSTBACK_PUBLIC_URL": live.url,
    }
    return run_cli("check", *args, cwd=tmp_path, env=env)


def test_check_offer_url_prints_the_verdict_and_fails_on_errors(
    live: LiveServer, tmp_path: Path
) -> None:
    good = check(live, tmp_path, "offer-url", "https://o.test/?s={clickid}")
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("OK Your URL is correct.")
    bad = check(live, tmp_path, "offer-url", "https://o.test/?s=x", "--format", "json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["errors"][0]["code"] == "missing_clickid"


def test_check_test_conversion_then_status_pending_to_valid(
    live: LiveServer, http: httpx.Client, tmp_path: Path
) -> None:
    setup = make_setup(live, network={"secret": "s3cret"})
    made = check(
        live, tmp_path, "test-conversion", "--campaign", setup.campaign_key, "--format", "json"
    )
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)
    clickid = data["clickid"]
    assert data["redirect_url"] == f"https://offer.test/?click={clickid}"
    assert "token=s3cret" in data["postback_url"]
    pending = check(live, tmp_path, "status", clickid)
    assert (pending.returncode, pending.stdout.split(":")[0]) == (0, "PENDING")
    assert httpx.get(data["postback_url"]).status_code == 200
    valid = check(live, tmp_path, "status", clickid.lower(), "--format", "json")
    assert json.loads(valid.stdout)["status"] == "VALID"
    table = check(live, tmp_path, "test-conversion", "--campaign", setup.campaign_key)
    assert "check status" in table.stdout
    assert_one_line_error(check(live, tmp_path, "test-conversion", "--campaign", "nope"))
    assert_one_line_error(check(live, tmp_path, "status", new_id()))


def test_check_replay_and_explain_find_a_lost_conversion(
    live: LiveServer, http: httpx.Client, tmp_path: Path
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    assert http.get(f"{setup.postback}&clickid={cid}&payout=3").status_code == 200
    assert http.get(f"{setup.postback}&clickid={new_id()}").status_code == 404
    with live.runtime.db.session() as s:
        [refused] = s.scalars(select(PostbackLogEntry).where(PostbackLogEntry.outcome == "refused"))
    replayed = check(live, tmp_path, "replay", refused.id)
    assert replayed.returncode == 1
    assert "unknown_click" in replayed.stdout and "find_click" in replayed.stdout
    as_json = json.loads(check(live, tmp_path, "replay", refused.id, "--format", "json").stdout)
    assert as_json["outcome"] == "unknown_click"
    story = check(live, tmp_path, "explain", cid)
    assert story.returncode == 0, story.stderr
    assert "approved" in story.stdout and "accepted" in story.stdout
    assert_one_line_error(check(live, tmp_path, "explain", new_id()))
    assert_one_line_error(check(live, tmp_path, "replay", new_id()))
