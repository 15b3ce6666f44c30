# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYX    := $(shell find firmware_bridge telemetry sim_hw control -name '*.pyx' -o -name '*.pxd' 2>/dev/null)

.PHONY: install run test bench lint broker postgres socat systemd-tools browser faketime arm64-check clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py $(PYX)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -e ".[test]"
	touch $(STAMP)

run: install
	$(PY) -m control demo

broker:
	scripts/ensure-mosquitto.sh

postgres:
	scripts/ensure-postgresql.sh

socat:
	scripts/ensure-socat.sh

systemd-tools:
	scripts/ensure-systemd-analyze.sh

browser:
	scripts/ensure-chromium.sh

faketime:
	scripts/ensure-faketime.sh

lint: install
	$(VENV)/bin/ruff check .

test: install broker postgres socat systemd-tools browser faketime
	$(VENV)/bin/ruff check .
	$(PY) -m pip check
	$(PY) -m pytest

# Build the wheel for aarch64 and test it under qemu emulation in a Debian arm64
# root (cached in /var/cache/rig-arm64; root needed). Not part of `make test`:
# docs/deploy.md says how long it takes.
arm64-check:
	scripts/arm64-check.sh

bench: install broker postgres
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info
	find . -name '*.so' -path './*/*' -not -path './.venv/*' -delete
	find firmware_bridge telemetry sim_hw control -name '*.c' -delete
