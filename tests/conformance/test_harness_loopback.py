"""The harness passes the loopback firmware and fails each deliberately broken variant."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from firmware_bridge.conformance import CHECKS, Outcome, RunConfig, run_conformance
from firmware_bridge.loopback import LoopbackFirmware

from . import broken_firmware as broken
from .broken_firmware import (
    AcceptsBadCrc,
    FloodsNacks,
    IgnoresExpiry,
    NeverTripsWatchdog,
    ReExecutesDuplicates,
)

# the host's timing is measured on a machine shared with other jobs: a generous
# tolerance keeps these tests about the rules, not the scheduler
TOLERANCE_MS = 80.0
# the loopback firmware shares this process's event loop with the harness: one pause of
# the process longer than the link's loss timeout (the watchdog) ends the session on
# both sides at once, so the full run uses the hosts' default 250 ms, not 100 ms
WATCHDOG_MS = 250


@contextlib.asynccontextmanager
async def firmware(kind: type[LoopbackFirmware], tmp_path) -> AsyncIterator[LoopbackFirmware]:
    fw = kind(str(tmp_path / "fw-tty"))
    await fw.start()
    try:
        yield fw
    finally:
        await fw.stop()


async def test_loopback_passes_every_check(tmp_path) -> None:
    async with firmware(LoopbackFirmware, tmp_path) as fw:
        results = await run_conformance(RunConfig(
            fw.path, allow_motion=True, watchdog_ms=WATCHDOG_MS, tolerance_ms=TOLERANCE_MS))
    assert [r.id for r in results] == [c.id for c in CHECKS]
    failed = [(r.id, r.detail) for r in results if r.outcome is not Outcome.PASS]
    assert failed == []
    by_id = {r.id: r for r in results}
    assert by_id["standstill"].measured is not None and by_id["standstill"].measured <= 300


async def test_motion_checks_skip_without_the_flag(tmp_path) -> None:
    async with firmware(LoopbackFirmware, tmp_path) as fw:
        results = await run_conformance(RunConfig(
            fw.path, only=("params", "watchdog.stop", "standstill"), watchdog_ms=100))
    assert [(r.id, r.outcome) for r in results] == [
        ("params", Outcome.PASS), ("watchdog.stop", Outcome.SKIP),
        ("standstill", Outcome.SKIP)]
    assert fw.motors.value == "off" and all(not c.code == 1 for c in fw.commands)


@pytest.mark.parametrize(("kind", "check"), [
    (IgnoresExpiry, "commands.expiry"),
    (AcceptsBadCrc, "robustness.garbage"),
    (NeverTripsWatchdog, "watchdog.stop"),
    (NeverTripsWatchdog, "linkloss.one_way"),
    (FloodsNacks, "nack.rate_limit"),
    (ReExecutesDuplicates, "reliable.duplicates"),
    # 1.2: for each decided item (docs/protocol.md section 12), a firmware making the
    # other choice fails the check that enforces it
    (broken.StaleAcks, "estop.latch"),  # 1
    (broken.EventEveryEStop, "estop.latch"),  # 2
    (broken.TripsWhenOff, "linkloss.motors_off"),  # 3
    (broken.VendorCodeBadValue, "nack.codes"),  # 4
    (broken.DropsHeldEvents, "watchdog.stop"),  # 5
    (broken.NacksFirmwareTypes, "messages.roundtrip"),  # 6
    (broken.IgnoresHeaderVersion, "nack.codes"),  # 7
    (broken.NacksHeartbeatsBeforeSession, "nack.rate_limit"),  # 8
    (broken.AcceptsSessionZero, "handshake.cached"),  # 9
    (broken.ResetNoticeToEveryHost, "handshake.full"),  # 10
    (broken.SendsBootEvent, "handshake.full"),  # 11
    (broken.LacksSiteParam, "params"),  # 12
    (broken.RejectsUnusedNaN, "commands.arguments"),  # 13
    (broken.AcceptsStopWhileLatched, "estop.latch"),  # 14
    (broken.DisableDoneAtStandstill, "standstill"),  # 15
    (broken.StopKeepsMotorsOn, "standstill"),  # 16
    (broken.NoStandstillFromRest, "standstill"),  # 17
    (broken.DoneBeforeStandstill, "standstill"),  # 18
    (broken.ClampsNonFiniteSetpoints, "standstill"),  # 19
    (broken.RoundsBeforeRangeCheck, "params"),  # 20
    (broken.EchoesHighestSeq, "linkloss.one_way"),  # 21
    (broken.LacksSlowRateParam, "params"),  # 22
    (broken.IgnoresUnknownEStopSource, "estop.latch"),  # 23
], ids=lambda v: v if isinstance(v, str) else v.__name__)
async def test_broken_firmware_fails_its_check(kind, check, tmp_path) -> None:
    async with firmware(kind, tmp_path) as fw:
        results = await run_conformance(RunConfig(
            fw.path, allow_motion=True, only=(check,), watchdog_ms=100,
            tolerance_ms=TOLERANCE_MS))
    assert [(r.id, r.outcome) for r in results] == [(check, Outcome.FAIL)], results
