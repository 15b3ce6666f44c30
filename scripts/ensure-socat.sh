#!/usr/bin/env bash
# Make sure socat is available: the hardware-in-the-loop test links two
# pseudo-terminals with it (rig-sim --serial on one end, the harness on the other).
# Installs it with apt-get when missing and we are root; otherwise explains.
set -euo pipefail
if command -v socat >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "socat not found: installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq socat >/dev/null
    exit 0
fi
echo "ERROR: socat is required by the test suite and is not installed." >&2
echo "       Install it (Debian/Ubuntu: sudo apt-get install -y socat)." >&2
exit 1
