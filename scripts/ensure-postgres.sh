#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 for the test suite.
#
# Already running: nothing to do. Installed but stopped: start the cluster. Not installed:
# install it from the distribution (needs root or sudo) and allow passwordless (trust) logins
# from 127.0.0.1 only, which is what the tests expect. An existing server's authentication is
# changed only in CI or when this script installed it; elsewhere we say what to do instead.
#
# Skipped when the tests do not use the local server (POSTBACK_TEST_PG_URL set, or
# POSTBACK_TEST_DATABASES without postgresql).
set -euo pipefail

HOST=127.0.0.1
PORT=5432

if [[ -n "${POSTBACK_TEST_PG_URL:-}" ]]; then
    exit 0
fi
if [[ ",${POSTBACK_TEST_DATABASES:-sqlite,postgresql}," != *",postgresql,"* ]]; then
    exit 0
fi

say() { echo "ensure-postgres: $*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        say "need root to run: $*"
        say "start PostgreSQL on $HOST:$PORT yourself, or run only the SQLite tests with"
        say "  POSTBACK_TEST_DATABASES=sqlite make test"
        exit 1
    fi
}

ready() {
    if command -v pg_isready >/dev/null; then
        pg_isready -h "$HOST" -p "$PORT" -q
    else
        (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
    fi
}

can_log_in() {
    # Without psql we cannot tell; the tests will.
    command -v psql >/dev/null || return 0
    psql -h "$HOST" -p "$PORT" -U postgres -w -d postgres -Atc 'select 1' >/dev/null 2>&1
}

cluster_version() {
    ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

install_postgres() {
    say "PostgreSQL is not installed; installing it"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
}

trust_loopback() {
    local hba="/etc/postgresql/$1/main/pg_hba.conf"
    if as_root grep -Eq '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
        return
    fi
    say "allowing trust logins from 127.0.0.1 in $hba"
    # pg_hba.conf is first-match: the trust line must come before the distribution's defaults.
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
}

start_cluster() {
    say "starting PostgreSQL $1"
    as_root pg_ctlcluster --skip-systemctl-redirect "$1" main start || true
}

wait_ready() {
    for _ in $(seq 1 60); do
        ready && return 0
        sleep 0.5
    done
    say "PostgreSQL did not come up on $HOST:$PORT"
    return 1
}

main() {
    local installed_now=false version
    if ! ready; then
        if [[ -z "$(cluster_version)" ]]; then
            install_postgres
            installed_now=true
        fi
        version=$(cluster_version)
        if [[ -z "$version" ]]; then
            say "no PostgreSQL cluster found under /etc/postgresql"
            exit 1
        fi
        start_cluster "$version"
        wait_ready
    fi
    can_log_in && return
    version=$(cluster_version)
    if [[ -n "$version" && ($installed_now == true || "${CI:-}" == true) ]]; then
        trust_loopback "$version"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
        for _ in $(seq 1 20); do
            can_log_in && return
            sleep 0.5
        done
    fi
    say "PostgreSQL is up but 'postgres' cannot log in from $HOST without a password."
    say "Allow it (a 'host all all 127.0.0.1/32 trust' line in pg_hba.conf), or point the"
    say "tests elsewhere with POSTBACK_TEST_PG_URL=postgresql://user:pass@host:port"
    exit 1
}

main
