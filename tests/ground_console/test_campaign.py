"""The test campaign of docs/campaign_two_sites.py, run as a user would, against the simulator.

Mosquitto, ``rig-sim`` and ``rig-control run`` (signed commands, site plan,
ledger) are real processes; the campaign script arms the rig, lets the mission
dig at sites A and B, and checks the ledger against the mission's totals, with
the ledger's signatures verified with the rover key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .stack import RIG, RigBench

pytestmark = pytest.mark.broker

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "campaign_two_sites.py"


def test_the_documented_campaign_passes_against_the_simulator(mosquitto, tmp_path) -> None:
    with RigBench(tmp_path / "bench", mosquitto.url, target_kg=4.0) as bench:
        bench.start_rig()
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--broker", mosquitto.url, "--rig", RIG,
             "--key", str(bench.station_key), "--rover-key", str(bench.rover_pub),
             "--sites", "A,B", "--timeout", "240"],
            capture_output=True, text=True, timeout=330)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n" \
                                     f"{(bench.dir / 'rig-control.log').read_text()[-3000:]}"
        ledger = [json.loads(line) for line in
                  (bench.dir / "ledger.jsonl").read_text().splitlines()]
    out = done.stdout
    assert "campaign PASSED" in out
    for site in ("A", "B"):
        line = next(x for x in out.splitlines() if x.startswith(f"site {site}:"))
        delivered = float(line.split()[2])
        booked = sum(e["mass_g"] for e in ledger if e["site"] == site) / 1000.0
        assert delivered > 0 and abs(booked - delivered) < 0.01, (line, booked)
    assert f"{len(ledger)} ledger entries" in out


def test_a_failing_check_fails_the_campaign(mosquitto, tmp_path) -> None:
    """No rig answers: the script says why and exits 1 instead of hanging."""
    bench = RigBench(tmp_path / "bench", mosquitto.url)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--broker", mosquitto.url, "--rig", "rig-404",
         "--key", str(bench.station_key), "--timeout", "5"],
        capture_output=True, text=True, timeout=120, env=None)
    assert done.returncode == 1 and "campaign FAILED" in done.stderr, done.stderr
