#!/usr/bin/env bash
# Make sure a Mosquitto broker binary is available for the integration tests.
# Installs it with apt-get when missing and we are root; otherwise explains.
set -euo pipefail
for candidate in mosquitto /usr/sbin/mosquitto /usr/local/sbin/mosquitto; do
    if command -v "$candidate" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "mosquitto not found: installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
    exit 0
fi
echo "ERROR: the Mosquitto broker is required by the test suite and is not installed." >&2
echo "       Install it (Debian/Ubuntu: sudo apt-get install -y mosquitto mosquitto-clients)" >&2
echo "       or set MOSQUITTO=/path/to/mosquitto." >&2
exit 1
