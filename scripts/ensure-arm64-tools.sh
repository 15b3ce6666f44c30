#!/usr/bin/env bash
# Make sure this x86-64 machine can run arm64 (aarch64) programs: `make arm64-check`
# builds and tests the wheel in a Debian arm64 root under emulation.
# Installs Debian's qemu-user-static, binfmt-support and debootstrap with apt-get
# when missing and we are root, mounts binfmt_misc if needed and registers the
# aarch64 interpreter (with the F flag, so it works inside a chroot without a copy
# of qemu there). Otherwise explains. Idempotent.
set -euo pipefail
need=()
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v update-binfmts >/dev/null 2>&1 || need+=(binfmt-support)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing ${need[*]} with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "ERROR: make arm64-check needs ${need[*]} (and root for the chroot)." >&2
        echo "       Install them (Debian/Ubuntu: sudo apt-get install -y qemu-user-static" >&2
        echo "       binfmt-support debootstrap)." >&2
        exit 1
    fi
fi
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt"
fi
if [ ! -e "$binfmt/qemu-aarch64" ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
if [ ! -e "$binfmt/qemu-aarch64" ] && [ -r /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
    # binfmt-support could not register it (no systemd here): do what it would
    cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register"
fi
if ! grep -q '^enabled' "$binfmt/qemu-aarch64" 2>/dev/null; then
    echo "ERROR: the aarch64 interpreter is not registered in $binfmt" >&2
    exit 1
fi
