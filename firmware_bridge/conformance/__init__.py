"""``rig-bridge conformance URL``: the acceptance test a firmware is held to.

Acting as the host, the harness runs the checks of docs/protocol.md listed
in ``checks.CHECKS`` against a board (device path, pty, ``socket://``),
measures each timing against its bound, and reports a table and JSON. Checks
that energise or move the rig run only with ``allow_motion``.

* ``checks``: the check list, results and pure judge rules;
* ``host``: the harness's own host end (every header field under control);
* ``harness``: run settings and helpers shared by the check procedures;
* ``probes_link`` / ``probes_rules`` / ``probes_motion``: the check procedures;
* ``runner``: runs them and renders the report.
"""

from .checks import CHECKS, SPEC, CheckResult, CheckSpec, Outcome
from .harness import RunConfig
from .runner import MOTION_WARNING, exit_code, format_table, run_conformance, to_json

__all__ = [
    "CHECKS",
    "MOTION_WARNING",
    "SPEC",
    "CheckResult",
    "CheckSpec",
    "Outcome",
    "RunConfig",
    "exit_code",
    "format_table",
    "run_conformance",
    "to_json",
]
