#!/usr/bin/env bash
# `make arm64-check`: build and test the package on aarch64, the rover computers'
# architecture, under qemu user-mode emulation on this x86-64 machine.
#
#  1. a Debian bookworm arm64 root (python3 is 3.11 there) made with debootstrap from
#     the same mirror apt uses here, cached in $RIG_ARM64_CACHE (/var/cache/rig-arm64);
#  2. a virtualenv in it with the wheel's build and run dependencies and the test
#     tools (aarch64 wheels from the package index), cached too (keyed on pyproject.toml);
#  3. the aarch64 wheel built from the files git knows of, as in the working tree,
#     and copied to dist/ (what docs/deploy.md installs on a rover);
#  4. installed into that virtualenv; then, from the installed package: the compiled
#     kernels' equivalence tests (filters against their NumPy twin and SciPy, framing,
#     ingest), the protocol vectors, `rig-bridge selftest` and a short
#     `rig-control demo --no-ui`.
#
# Needs root (chroot, mounts). Reruns reuse the cached root and virtualenv; delete
# $RIG_ARM64_CACHE to start over. docs/deploy.md has the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${RIG_ARM64_CACHE:-/var/cache/rig-arm64}
ROOT=$CACHE/bookworm-arm64
SUITE=bookworm
PACKAGES=python3,python3-venv,python3-dev,gcc,libc6-dev,ca-certificates
START=$(date +%s)

stamp() { echo "== [$(( $(date +%s) - START )) s] $*"; }

[ "$(id -u)" = "0" ] || { echo "ERROR: make arm64-check needs root (chroot)" >&2; exit 1; }
scripts/ensure-arm64-tools.sh

mirror() {  # the Debian mirror apt uses here (deb822 or one-line sources)
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
              | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

if [ ! -e "$ROOT/.rig-root-ok" ]; then
    stamp "debootstrap $SUITE arm64 from $(mirror) into $ROOT"
    rm -rf "$ROOT.tmp"
    mkdir -p "$CACHE"
    debootstrap --arch=arm64 --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$ROOT.tmp" "$(mirror)" > "$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
    touch "$ROOT.tmp/.rig-root-ok"
    rm -rf "$ROOT"
    mv "$ROOT.tmp" "$ROOT"
else
    stamp "reusing the arm64 root $ROOT"
fi

mounted=()
cleanup() {
    local i
    for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[$i]}" || true; done
}
trap cleanup EXIT
bind() {  # bind-mount $1 at the same path in the root
    mkdir -p "$ROOT$1"
    mount --bind "$1" "$ROOT$1"
    mounted+=("$ROOT$1")
}
mkdir -p "$ROOT/proc" && mount -t proc proc "$ROOT/proc" && mounted+=("$ROOT/proc")
bind /dev
bind /dev/pts  # the demo and the selftest talk over pseudo-terminals
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca.crt"

in_root() {
    chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/opt/rig/venv/bin:/usr/bin:/bin \
        LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
        PIP_DEFAULT_TIMEOUT=180 "$@"
}
stamp "emulated: $(in_root uname -m), $(in_root python3 --version)"

# dependencies: the build requirements, the wheel's own and the test tools
deps_key=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$ROOT/opt/rig/venv/.deps" 2>/dev/null)" != "$deps_key" ]; then
    stamp "virtualenv with the dependencies (aarch64 wheels)"
    rm -rf "$ROOT/opt/rig/venv"
    in_root python3 -m venv /opt/rig/venv
    mkdir -p "$ROOT/opt/rig"
    python3 - > "$ROOT/opt/rig/requirements.txt" <<'EOF'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
for r in p["build-system"]["requires"] + p["project"]["dependencies"] \
        + p["project"]["optional-dependencies"]["test"]:
    if not r.startswith(("ruff", "selenium", "build")):  # lint and browser tools: not here
        print(r)
EOF
    in_root pip install -q --upgrade pip
    # --no-compile: byte-compiling SciPy and Matplotlib under emulation takes longer
    # than downloading them; the few modules the checks import compile on first use
    in_root pip install -q --no-compile -r /opt/rig/requirements.txt
    echo "$deps_key" > "$ROOT/opt/rig/venv/.deps"
else
    stamp "reusing the virtualenv (pyproject.toml unchanged)"
fi

stamp "copying the source (the files git knows of, as in the working tree)"
rm -rf "$ROOT/opt/rig/src" "$ROOT/opt/rig/dist" "$ROOT/opt/rig/check"
mkdir -p "$ROOT/opt/rig/src" "$ROOT/opt/rig/check"
git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -I{} sh -c 'test -f "{}" && printf "%s\0" "{}"' \
    | tar --null -T - -cf - | tar -xf - -C "$ROOT/opt/rig/src"

stamp "building the aarch64 wheel under emulation"
t0=$(date +%s)
in_root sh -c 'cd /opt/rig/src && pip wheel -q --no-deps --no-build-isolation -w /opt/rig/dist .'
wheel=$(cd "$ROOT/opt/rig/dist" && ls *.whl)
stamp "built $wheel in $(( $(date +%s) - t0 )) s, $(du -k "$ROOT/opt/rig/dist/$wheel" | cut -f1) KiB"
case "$wheel" in *aarch64*) ;; *) echo "ERROR: $wheel is not an aarch64 wheel" >&2; exit 1;; esac
in_root pip install -q --no-deps --force-reinstall "/opt/rig/dist/$wheel"
mkdir -p "$REPO/dist"
cp "$ROOT/opt/rig/dist/$wheel" "$REPO/dist/"  # for the rover (docs/deploy.md)

# the tests run against the installed package: only tests/, docs/ and the pytest
# configuration are copied next to them, no source package
cp -r "$ROOT/opt/rig/src/tests" "$ROOT/opt/rig/src/docs" "$ROOT/opt/rig/src/pyproject.toml" \
    "$ROOT/opt/rig/check/"
stamp "equivalence tests and protocol vectors on aarch64"
in_root sh -c 'cd /opt/rig/check && python -m pytest -q -p no:cacheprovider --timeout 1800 \
    tests/filters tests/firmware_bridge/test_framing.py tests/firmware_bridge/test_vectors.py \
    tests/firmware_bridge/test_codec.py tests/control/test_ingest.py'
in_root python -c 'import platform, telemetry.rover.filters.backend as f, firmware_bridge.framing as b, control.runtime.ingest as i
print("kernels on", platform.machine(), ":", f.IMPLEMENTATION, b.IMPLEMENTATION, i.IMPLEMENTATION, f.kernels.__file__)
assert {f.IMPLEMENTATION, b.IMPLEMENTATION, i.IMPLEMENTATION} == {"compiled"}'

stamp "rig-bridge selftest"
in_root sh -c 'cd /tmp && rig-bridge selftest'

stamp "rig-control demo --no-ui (short mission)"
in_root sh -c "cd /tmp && rig-control demo --no-ui --mission /opt/rig/check/tests/deploy/short_mission.toml \
    --plot /tmp/arm64-demo.png --max-wall ${RIG_ARM64_DEMO_WALL:-600} ${RIG_ARM64_DEMO_ARGS:-}"
stamp "arm64 check passed; the wheel is dist/$wheel"
