"""Run the checks against a firmware and report: a table on the terminal, JSON on request.

``run_conformance(config)`` opens the port, handshakes, runs every selected
check in the order of ``CHECKS`` (motion checks only with ``allow_motion``,
otherwise SKIP), tidies up between checks and returns the results. No
exception from a check escapes: it becomes that check's FAIL. ``format_table``
and ``to_json`` render the results; ``exit_code`` is 0 only without a FAIL.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from ..errors import BridgeError
from ..messages import PROTOCOL_REVISION_TEXT
from .checks import CHECKS, CheckResult, Outcome, check_spec
from .harness import Harness, RunConfig
from .host import HarnessPort, HostSession
from .probes_link import LINK_PROBES
from .probes_motion import MOTION_PROBES
from .probes_rules import RULE_PROBES

log = logging.getLogger(__name__)

__all__ = ["MOTION_WARNING", "exit_code", "format_table", "run_conformance", "to_json"]

Probe = Callable[[Harness], Awaitable[CheckResult]]
PROBES: dict[str, Probe] = {**LINK_PROBES, **RULE_PROBES, **MOTION_PROBES}
assert set(PROBES) == {c.id for c in CHECKS}

MOTION_WARNING = (
    "WARNING: --allow-motion runs checks that ENABLE the motors, spin the drum to the dig "
    "speed and let the watchdog stop it. Clear the rig, keep the e-stop at hand.")

CHECK_TIMEOUT = 30.0  # s: a check that hangs is a FAIL, never a hung harness


async def run_conformance(config: RunConfig) -> list[CheckResult]:
    for check_id in config.only:
        check_spec(check_id)  # KeyError naming the known checks
    port = HarnessPort(config.url, config.baudrate,
                       HostSession(watchdog_ms=config.watchdog_ms))
    await port.open()
    h = Harness(port, config)
    results: list[CheckResult] = []
    try:
        if not await h.new_session():
            spec = CHECKS[0]
            return [CheckResult(spec.id, spec.section, Outcome.FAIL,
                                f"no FIRMWARE_INFO from {config.url} within 2 s")]
        for spec in CHECKS:
            if config.only and spec.id not in config.only:
                continue
            if spec.moves and not config.allow_motion:
                results.append(CheckResult(spec.id, spec.section, Outcome.SKIP,
                                           "moves the rig: needs --allow-motion"))
                continue
            results.append(await _run_one(h, spec.id))
            await _tidy(h)
    finally:
        await port.close()
    return results


async def _run_one(h: Harness, check_id: str) -> CheckResult:
    spec = check_spec(check_id)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            result = await PROBES[check_id](h)
    except (TimeoutError, BridgeError, AssertionError, ValueError, OSError) as err:
        result = CheckResult(spec.id, spec.section, Outcome.FAIL,
                             f"check aborted: {type(err).__name__}: {err}")
    log.info("%s: %s %s", spec.id, result.outcome.value, result.detail)
    return result


async def _tidy(h: Harness) -> None:
    try:
        async with asyncio.timeout(5.0):
            await h.tidy()
    except (TimeoutError, BridgeError, OSError) as err:
        log.warning("could not tidy up after a check: %s", err)


def format_table(results: Sequence[CheckResult]) -> str:
    rows = [("check", "section", "result", "measured (bound)", "detail")]
    rows += [(r.id, r.section, r.outcome.name, r.timing, r.detail) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
             + "  " + row[4] for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 6)
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    lines.append(f"{counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
                 f"{counts[Outcome.SKIP]} skipped")
    return "\n".join(lines)


def to_json(results: Sequence[CheckResult], config: RunConfig) -> str:
    return json.dumps({
        "url": config.url, "protocol": PROTOCOL_REVISION_TEXT, "allow_motion": config.allow_motion,
        "watchdog_ms": config.watchdog_ms, "tolerance_ms": config.tolerance_ms,
        "passed": exit_code(results) == 0,
        "checks": [r.to_json() for r in results],
    }, indent=2)


def exit_code(results: Sequence[CheckResult]) -> int:
    return 1 if any(r.outcome is Outcome.FAIL for r in results) else 0
