#!/usr/bin/env bash
# Make sure systemd-analyze is available: the tests verify deploy/rig-control.service
# with `systemd-analyze verify`. Installs Debian's "systemd" package (which ships it)
# with apt-get when missing and we are root; otherwise explains. Idempotent.
# Installing the package in a container only adds files: nothing is started.
set -euo pipefail
if command -v systemd-analyze >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "systemd-analyze not found: installing the systemd package with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends systemd >/dev/null
    exit 0
fi
echo "ERROR: systemd-analyze is required by the test suite and is not installed." >&2
echo "       Install it (Debian/Ubuntu: sudo apt-get install -y systemd)." >&2
exit 1
