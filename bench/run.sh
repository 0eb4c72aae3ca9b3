#!/usr/bin/env bash
# Postback benchmark: bare 302 baseline, click path and accepted postbacks on SQLite and
# PostgreSQL. Run by hand (or `make bench`), never in CI. Options go to bench.py, e.g.
#   bench/run.sh --duration 5 --databases sqlite
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk not found; installing it from the Debian packages" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get install -y wrk || { $SUDO apt-get update && $SUDO apt-get install -y wrk; }
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "the benchmark pins the server and wrk to one core each: it needs 2 cores" >&2
    exit 2
fi

PYTHON="${PYTHON:-.venv/bin/python}"
exec "$PYTHON" bench/bench.py "$@"
