#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries (initdb, postgres) are available for the
# tests and benchmarks, which start their own throwaway clusters on free loopback ports.
# Installs Debian's `postgresql` with apt-get when missing and we are root; otherwise
# explains. The package's own default cluster is not used (and not needed).
set -euo pipefail
found() {
    if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then return 0; fi
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then return 0; fi
    done
    command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}
if found; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL not found: installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    found && exit 0
fi
echo "ERROR: the PostgreSQL server is required by the test suite and is not installed." >&2
echo "       Install it (Debian/Ubuntu: sudo apt-get install -y postgresql)" >&2
echo "       or set PG_BINDIR=/path/to/postgresql/bin." >&2
exit 1
