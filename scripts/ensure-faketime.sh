#!/usr/bin/env bash
# Make sure faketime (libfaketime's wrapper) is available: the clock test runs
# `rig-control run` under `faketime -f -30s` (a rover whose wall clock is 30 s behind
# the ground station's). Installs it with apt-get when missing and we are root;
# otherwise explains.
set -euo pipefail
if command -v faketime >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "faketime not found: installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq faketime >/dev/null
    exit 0
fi
echo "ERROR: faketime is required by the test suite and is not installed." >&2
echo "       Install it (Debian/Ubuntu: sudo apt-get install -y faketime)." >&2
exit 1
