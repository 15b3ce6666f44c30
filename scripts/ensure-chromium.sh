#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium and its chromedriver are installed for the
# browser test of the ground console (tests/ground_console/). The test drives
# /usr/bin/chromium through /usr/bin/chromedriver and never downloads a browser at run time.
# Installs both with apt-get when missing and we are root; otherwise explains and fails.
set -euo pipefail
CHROMIUM="${RIG_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${RIG_CHROMEDRIVER:-/usr/bin/chromedriver}"
if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium/chromedriver not found: installing them with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core \
        >/dev/null
    if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
        exit 0
    fi
    echo "ERROR: apt-get ran but $CHROMIUM or $CHROMEDRIVER is still missing." >&2
    exit 1
fi
echo "ERROR: the browser test needs Chromium and chromedriver and they are not installed." >&2
echo "       Install them (Debian: sudo apt-get install -y chromium chromium-driver)" >&2
echo "       or set RIG_CHROMIUM / RIG_CHROMEDRIVER to their paths." >&2
exit 1
