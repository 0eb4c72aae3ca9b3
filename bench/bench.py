"""Postback's throughput benchmark: the click path and accepted postbacks against a bare 302.

Run through bench/run.sh (see bench/README.md). Every scenario runs under the same server
settings, one after the other, so the ratio to the same run's baseline is what to compare
across machines, not the raw req/s.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from dataset import (
    ADMIN_KEY,
    click_ids,
    count_conversions,
    fresh_database,
    seed,
    top_up_clicks,
)
from harness import (
    BENCH,
    ROOT,
    SERVER_CPU,
    WRK_CPU,
    Server,
    WrkResult,
    baseline_cmd,
    free_port,
    postback_cmd,
    run_wrk,
)

RESULTS = BENCH / "results"
# A postback connection stops sending this long before wrk stops (see postback.lua).
DRAIN_SECONDS = 2
BASELINE, BASELINE_AGAIN = "baseline 302 (bare ASGI)", "baseline 302 again"
# Bars from the issue, against the same run's baseline, on SQLite.
CLICK_BAR, CLICK_P99_MS, POSTBACK_BAR = 0.35, 15.0, 0.15


@dataclass
class Row:
    name: str
    result: WrkResult


@dataclass
class Report:
    header: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)  # this round's
    rounds: list[list[Row]] = field(default_factory=list)  # the rounds before
    checks: list[str] = field(default_factory=list)
    failed: bool = False

    def check(self, ok: bool, text: str) -> None:
        self.checks.append(f"[{'ok' if ok else 'FAIL'}] {text}")
        self.failed |= not ok


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (all on one core)")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measure everything this many times; the bars are judged on the median round",
    )
    parser.add_argument(
        "--background",
        choices=("off", "on"),
        default="off",
        help="run the in-server delivery worker and report aggregator during the load "
        "(off measures the request paths alone; on measures what reporting costs them)",
    )
    return parser.parse_args()


def main() -> int:
    opts = parse_args()
    work = RESULTS / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    report = Report(header=describe(opts))
    for _ in range(max(1, opts.rounds)):
        report.rows = []
        report.rows.append(Row(BASELINE, measure_baseline(opts, work)))
        for kind in [d for d in opts.databases.split(",") if d]:
            measure_database(kind, opts, work, report)
        # Measured again last: the ratios are to the mean of both, so a machine that got
        # faster or slower during the round (a neighbour's load, CPU frequency) moves the
        # yardstick too.
        report.rows.append(Row(BASELINE_AGAIN, measure_baseline(opts, work)))
        report.rounds.append(report.rows)
    judge_bars(report)
    text = render(opts, report)
    print(text)
    (RESULTS / "latest.txt").write_text(text)
    (RESULTS / "latest-wrk.txt").write_text(
        "\n".join(
            f"== round {i}: {row.name}\n{row.result.output}"
            for i, rows in enumerate(report.rounds, start=1)
            for row in rows
        )
    )
    return 1 if report.failed else 0


def wrk(server: Server, opts: argparse.Namespace, script: str, args: list[str], secs: float):
    return run_wrk(
        server, script, args, seconds=secs, connections=opts.connections, threads=opts.threads
    )


def measure_baseline(opts: argparse.Namespace, work: Path) -> WrkResult:
    port = free_port()
    server = Server(baseline_cmd(port), port, log=work / "server-baseline.log").start()
    try:
        # The same request as the click run, so wrk does the same work per request.
        wrk(server, opts, "click.lua", ["bench"], opts.warmup)
        return wrk(server, opts, "click.lua", ["bench"], opts.duration)
    finally:
        server.stop()


def measure_database(kind: str, opts: argparse.Namespace, work: Path, report: Report) -> None:
    with fresh_database(kind, work) as url:
        port = free_port()
        env = {
            "POSTBACK_DATABASE_URL": url,
            "POSTBACK_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "POSTBACK_ADMIN_API_KEY": ADMIN_KEY,
            "POSTBACK_LOG_LEVEL": "WARNING",
            "POSTBACK_SERVE_RUNS_WORKER": str(opts.background == "on").lower(),
            "POSTBACK_SERVE_RUNS_AGGREGATOR": str(opts.background == "on").lower(),
        }
        log = work / f"server-{kind}.log"
        server = Server(postback_cmd(port), port, env=env, log=log, database_url=url)
        server.start("/healthz")
        try:
            seeded = seed(server.url)
            key = [seeded.campaign_key]
            wrk(server, opts, "click.lua", key, opts.warmup)
            click = wrk(server, opts, "click.lua", key, opts.duration)
            report.rows.append(Row(f"{kind}: click GET /c/{{key}}", click))
            measure_postbacks(kind, url, seeded.postback_path, click, server, opts, work, report)
        finally:
            server.stop()


def measure_postbacks(
    kind: str,
    url: str,
    postback_path: str,
    click: WrkResult,
    server: Server,
    opts: argparse.Namespace,
    work: Path,
    report: Report,
) -> None:
    warm_ids, run_ids = prepare_click_ids(url, click.req_per_s, opts, work)
    warm = postback_run(server, opts, warm_ids, postback_path, opts.warmup)
    run = postback_run(server, opts, run_ids, postback_path, opts.duration)
    report.rows.append(Row(f"{kind}: postback accepted", run))
    stored, clicks = count_conversions(url)
    acked = warm.stats["accepted"] + run.stats["accepted"]
    report.check(
        stored == acked and clicks == stored,
        f"{kind}: 'OK accepted' seen by wrk {acked}, conversions stored {stored} "
        f"(on {clicks} distinct clicks)",
    )
    odd = run.stats["duplicate"] + run.stats["other"]
    report.check(odd == 0, f"{kind}: postbacks not accepted in the measured run: {odd}")
    report.check(
        not run.stats["exhausted"],
        f"{kind}: click IDs lasted the whole postback run ({len(run_ids.read_text().split())})",
    )


def prepare_click_ids(
    url: str, click_rate: float, opts: argparse.Namespace, work: Path
) -> tuple[Path, Path]:
    """Files of distinct stored click IDs for the warm-up and the measured postback run.

    The click runs just stored real clicks; a postback costs more than a click, so the click
    rate bounds the postback rate and sizes what we need. Short? Copies of a click fill in.
    """
    need_warm = math.ceil(click_rate * opts.warmup * 1.2) + 1000
    need_run = math.ceil(click_rate * opts.duration * 1.2) + 1000
    ids = click_ids(url)
    if len(ids) < need_warm + need_run:
        top_up_clicks(url, need_warm + need_run - len(ids))
        ids = click_ids(url)
    warm, run = work / "ids-warmup.txt", work / "ids-run.txt"
    warm.write_text("\n".join(ids[:need_warm]) + "\n")
    run.write_text("\n".join(ids[need_warm:]) + "\n")
    return warm, run


def postback_run(
    server: Server, opts: argparse.Namespace, ids: Path, postback_path: str, seconds: float
) -> WrkResult:
    args = [str(ids), postback_path, f"{seconds:g}", str(opts.threads)]
    return wrk(server, opts, "postback.lua", args, seconds + DRAIN_SECONDS)


def baseline_rate(rows: list[Row]) -> float:
    """req/s of the bare 302 in one round: the mean of its runs before and after the others."""
    runs = [row.result.req_per_s for row in rows if row.name.startswith("baseline")]
    return sum(runs) / len(runs)


def medians(report: Report, name: str) -> tuple[float, float] | None:
    """(ratio to its round's baseline, p99 ms) of scenario `name`, each the median over the
    rounds: one round slowed by something else on the machine does not decide a bar."""
    found = [
        (row.result.req_per_s / baseline_rate(rows), row.result.stats["p99_us"] / 1000)
        for rows in report.rounds
        for row in rows
        if row.name == name
    ]
    if not found:
        return None
    return statistics.median(r for r, _ in found), statistics.median(p for _, p in found)


def judge_bars(report: Report) -> None:
    rounds = len(report.rounds)
    for i, rows in enumerate(report.rounds, start=1):
        by_name = {row.name: row.result for row in rows}
        first, last = by_name[BASELINE].req_per_s, by_name[BASELINE_AGAIN].req_per_s
        report.checks.append(
            f"[--] round {i}: baseline {first:.0f} req/s first, {last:.0f} last "
            f"({100 * (last / first - 1):+.0f}%); ratios are to their mean"
        )
    of = f"median of {rounds} round{'s' if rounds > 1 else ''}"
    click = medians(report, "sqlite: click GET /c/{key}")
    postback = medians(report, "sqlite: postback accepted")
    if click is not None:
        ratio, p99 = click
        report.check(
            ratio >= CLICK_BAR and p99 < CLICK_P99_MS,
            f"bar: sqlite click >= {CLICK_BAR}x baseline and p99 < {CLICK_P99_MS:g} ms "
            f"({of}: {ratio:.2f}x, p99 {p99:.1f} ms)",
        )
    if postback is not None:
        ratio, _p99 = postback
        report.check(
            ratio >= POSTBACK_BAR,
            f"bar: sqlite accepted postbacks >= {POSTBACK_BAR}x baseline ({of}: {ratio:.2f}x)",
        )


def render(opts: argparse.Namespace, report: Report) -> str:
    head = (
        f"{'scenario':<31} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'x base':>7} "
        f"{'errors':>6} {'non2xx3xx':>9} {'server':>6} {'wrk':>4} {'pg':>4} {'cpu0/cpu1':>9} "
        f"{'steal':>5} {'req/cpu-s':>9}"
    )
    lines = [*report.header]
    for i, rows in enumerate(report.rounds, start=1):
        lines += ["", f"round {i} of {len(report.rounds)}", head, "-" * len(head)]
        lines += [_line(row, baseline_rate(rows)) for row in rows]
    lines += [
        "",
        "server, wrk, pg (our database's backends): CPU used in the measured window, % of a core.",
        "cpu0/cpu1: how busy each core was (anything else running on the machine shows here).",
        "steal: share of the server's core the hypervisor gave to another guest.",
        "req/cpu-s: requests per second of server CPU, steadier than req/s on a busy machine.",
        "",
        *report.checks,
        "",
    ]
    return "\n".join(lines)


def _line(row: Row, base: float) -> str:
    r = row.result
    span = (r.stats.get("active_us") or r.stats["duration_us"]) / 1e6
    return (
        f"{row.name:<31} {r.req_per_s:>7.0f} {r.stats['p50_us'] / 1000:>7.2f} "
        f"{r.stats['p99_us'] / 1000:>7.2f} {r.req_per_s / base:>6.2f}x "
        f"{r.errors:>6} {r.stats['status']:>9} {pct(r.server_cpu, span):>6} "
        f"{pct(r.wrk_cpu, span):>4} {pct(r.postgres_cpu, span):>4} {cores(r):>9} "
        f"{100 * r.steal:>4.0f}% "
        f"{r.stats['requests'] / max(r.server_cpu, 1e-9):>9.0f}"
    )


def pct(cpu_seconds: float, span: float) -> str:
    return f"{100 * cpu_seconds / span:.0f}%"


def cores(result: WrkResult) -> str:
    return "/".join(f"{100 * v:.0f}" for _, v in sorted(result.cores.items()))


def describe(opts: argparse.Namespace) -> list[str]:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    load = os.getloadavg()[0]
    busy = "  (machine busy: numbers are noisy)" if load > 0.5 else ""
    return [
        f"Postback benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or '?'}, "
        f"load average {load:.2f} at start{busy}",
        f"server: uvicorn {uvicorn.__version__}, 1 worker, uvloop, httptools, no access log, "
        "no proxy headers, "
        f"pinned to CPU {SERVER_CPU}; Python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version} (synchronous=FULL, WAL); "
        f"in-server delivery worker and report aggregator {opts.background}",
        f"load: {wrk_version.split(' [')[0].strip()}, {opts.threads} thread(s), "
        f"{opts.connections} connections, pinned to CPU {WRK_CPU}; "
        f"{opts.warmup:g} s warm-up then {opts.duration:g} s measured per scenario",
    ]


if __name__ == "__main__":
    sys.exit(main())
