"""A restarted controller resumes the mission where the rig left it (docs/control.md, "Restarts").

Real processes: the simulator (``python -m sim_hw`` on a pty) and ``rig-control run
--autonomous`` with a signed ledger and the mission store. The controller is SIGKILLed
in one phase of site B's work (site A done), restarted, and must finish the mission:
each site within one bucket of its target, none dug past it by more than one bucket,
and the mission's totals (the summary it prints) equal to the ledger's. Before the
mission survived the process, the restarted controller dug site A's target again.
"""

from __future__ import annotations

import re

import pytest

from .resume_rig import ResumeBench, Site, summary_sites

pytestmark = pytest.mark.timeout(900)

#: site A takes two loads (a restart that forgets it digs two more: past its target by
#: more than a bucket), site B one, where the controller is killed
SITES = (Site("A", 1.2, 0.0, 20.0), Site("B", 0.0, 1.2, 10.0))
#: wall seconds for a part of the mission on a loaded machine (a quiet one needs a tenth)
PART_WALL_S = 200.0

#: (phase, the log line that starts it while the rig works at site B)
KILL_AT = {
    "driving": r"-> driving on drive: drive to site B",
    "digging": r"-> digging on dig: dig cycle \d+ at site B",
    "lifting": r"digging -> full on bucket_full",
    "dumping": r"-> dumping on dump",
}


def check_totals(bench: ResumeBench, printed: str) -> None:
    ledger = bench.ledger_kg()
    bucket = max(e["mass_g"] for e in bench.ledger_entries()) / 1000.0  # the fullest load
    for s in SITES:
        got = ledger.get(s.name, 0.0)
        assert got >= s.target_kg - max(0.5, 0.02 * s.target_kg), (s.name, ledger)
        assert got <= s.target_kg + bucket, \
            f"site {s.name} dug past its target by more than a bucket ({bucket} kg): {ledger}"
    mission = summary_sites(printed)
    assert set(mission) == {s.name for s in SITES}, printed
    for name, kg in mission.items():  # printed to 0.1 kg: half a step, and float noise (a
        # total summed in another order printed 20.6 where the ledger's was 20.549999999999997)
        assert kg == pytest.approx(ledger.get(name, 0.0), abs=0.05 + 1e-9), \
            f"the mission says {mission}, the ledger {ledger}"


@pytest.mark.parametrize("phase", list(KILL_AT))
async def test_a_controller_killed_in_any_phase_resumes_the_mission(tmp_path, phase) -> None:
    bench = ResumeBench(tmp_path, SITES)
    try:
        port = await bench.start_rig()
        await bench.start_controller(port)
        after = 0
        if phase in ("lifting", "dumping"):  # of a load from site B
            after = (await bench.wait_log(KILL_AT["digging"], 2 * PART_WALL_S)).start()
        await bench.wait_log(KILL_AT[phase], 2 * PART_WALL_S, after=after)
        await bench.kill()
        before = bench.ledger_kg().get("A", 0.0)  # a dump cut short is booked at restart
        await bench.start_controller(port)
        await bench.wait_log(r"mission_completed: ", 2 * PART_WALL_S)
        printed = await bench.stop()
    finally:
        await bench.close()
    check_totals(bench, printed)
    # what the operator saw: the mission resumed with site A's mass (a dump cut short booked)
    resumed = re.search(r"mission_resumed: resumed: site A ([\d.]+) / 20 kg", bench.log_text())
    assert resumed is not None, bench.tail()
    assert float(resumed.group(1)) >= before - 0.05, resumed.group(0)
