"""Processes for the benchmark: a pinned server, a pinned wrk, and CPU accounting for both.

The server gets CPU 0 and wrk gets CPU 1, so neither steals the other's core and a server
that is saturated shows up as ~100% CPU on its core. PostgreSQL's own processes are not ours
to pin: they float over both cores, and the table shows how much CPU the backends serving
the benchmark's database took.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVER_CPU = "0"
WRK_CPU = "1"
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def baseline_cmd(port: int) -> list[str]:
    """The bare app under the settings `postback serve` uses (see postback/cli.py)."""
    return [
        sys.executable, "-m", "uvicorn", "baseline_app:app", "--app-dir", str(BENCH),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-proxy-headers",
        "--log-level", "warning",
    ]  # fmt: skip


def postback_cmd(port: int) -> list[str]:
    """The real server as users run it: 1 worker, uvloop, httptools, no access log."""
    return [
        sys.executable, "-m", "postback.cli", "serve", "--no-migrate",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip


@dataclass
class Server:
    """A server process pinned to SERVER_CPU, in its own session so a kill takes all of it."""

    cmd: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    database_url: str | None = None  # whose PostgreSQL backends to account for
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/", timeout: float = 30) -> Server:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *self.cmd],
            env={**os.environ, **self.env},
            cwd=BENCH,  # away from the repo root, so a developer's .env is not picked up
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_ready(self.url + ready_path, self.proc, timeout)
        return self

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return proc_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout:.0f} s")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its threads, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_backends(database_url: str | None) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the benchmark's database.

    Only ours: on a shared PostgreSQL, other databases' work must not show as our cost.
    """
    if not database_url or not database_url.startswith("postgres"):
        return {}
    with psycopg.connect(database_url) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    cpu = {}
    for (pid,) in pids:
        try:
            cpu[pid] = proc_cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue  # a backend that ended while we looked
    return cpu


def core_busy() -> dict[str, tuple[int, int, int]]:
    """(busy, total, steal) jiffies per CPU from /proc/stat. Steal is time the hypervisor gave
    the CPU to another guest: a run with much of it on the server's CPU is not comparable."""
    cores = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            nums = [int(v) for v in values]
            idle = nums[3] + nums[4]  # idle + iowait
            cores[name] = (sum(nums[:8]) - idle, sum(nums[:8]), nums[7])
    return cores


@dataclass
class WrkResult:
    stats: dict[str, int]
    wall: float
    wrk_cpu: float  # CPU seconds wrk used
    server_cpu: float
    postgres_cpu: float
    cores: dict[str, float]  # busy fraction per CPU over the run
    output: str
    steal: float = 0.0  # fraction of the server's CPU taken by the hypervisor

    @property
    def req_per_s(self) -> float:
        # Scripts that stop early report their active window; the rest ran for wrk's duration.
        span = self.stats.get("active_us") or self.stats["duration_us"]
        return self.stats["requests"] / (span / 1e6)

    @property
    def errors(self) -> int:
        return sum(self.stats[k] for k in ("connect", "read", "write", "timeout"))


def run_wrk(
    server: Server,
    script: str,
    args: list[str],
    *,
    seconds: float,
    connections: int,
    threads: int,
    timeout: float = 5,
) -> WrkResult:
    """Run wrk on WRK_CPU against the server and account for both sides' CPU."""
    cmd = [
        "taskset", "-c", WRK_CPU, "wrk",
        f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout:.0f}s",
        "-s", str(BENCH / script), server.url, "--", *args,
    ]  # fmt: skip
    server_before, pg_before, cores_before = (
        server.cpu_seconds(),
        postgres_backends(server.database_url),
        core_busy(),
    )
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{output}")
    cores_after = core_busy()
    return WrkResult(
        stats=parse_wrk_json(output),
        wall=wall,
        wrk_cpu=usage.ru_utime + usage.ru_stime,
        server_cpu=server.cpu_seconds() - server_before,
        postgres_cpu=sum(
            cpu - pg_before.get(pid, 0.0)
            for pid, cpu in postgres_backends(server.database_url).items()
        ),
        cores={
            name: (busy - cores_before[name][0]) / max(1, total - cores_before[name][1])
            for name, (busy, total, _steal) in cores_after.items()
        },
        output=output,
        steal=_steal_share(cores_before, cores_after, f"cpu{SERVER_CPU}"),
    )


def _steal_share(
    before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]], cpu: str
) -> float:
    if cpu not in before or cpu not in after:
        return 0.0
    total = after[cpu][1] - before[cpu][1]
    return (after[cpu][2] - before[cpu][2]) / max(1, total)


def parse_wrk_json(output: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            return dict(json.loads(line[len("WRKJSON ") :]))
    raise RuntimeError(f"no summary line in wrk output:\n{output}")
