"""Replay: the time base (pure) and a recording written by ``record``'s core played back."""

from __future__ import annotations

import asyncio
import gc
import math
import time

import pytest

from telemetry.contract.payloads import BatchMessage
from telemetry.ground.alarms import AlarmState
from telemetry.ground.console.replay import ReplayCursor, ReplaySession, list_recordings
from telemetry.ground.record import Recorder
from telemetry.ground.stores import open_store

from .test_fleet_watch import Rig


def test_cursor_speed_pause_and_resume() -> None:
    c = ReplayCursor(1000.0, 2.0, now=50.0)
    assert c.position(51.0) == 1002.0
    assert c.wait_s(1010.0, 51.0) == pytest.approx(4.0)  # 8 s of recording at 2x
    assert c.wait_s(1001.0, 51.0) == 0.0  # already due
    c.set_speed(10.0, 51.0)
    assert c.position(52.0) == 1012.0
    c.pause(52.0)
    assert c.position(99.0) == 1012.0 and math.isinf(c.wait_s(1013.0, 99.0))
    c.resume(100.0)
    assert c.position(100.5) == 1017.0
    with pytest.raises(ValueError, match="speed"):
        c.set_speed(0.0, 101.0)


async def make_recording(path) -> int:
    """One second of a rig's life, as `rig-ground record` would have stored it."""
    rig, recorder = Rig(), Recorder("regolith")
    t0 = 1_750_000_000.0
    messages = [rig.status(True, t0)]
    for i in range(10):
        t = t0 + 0.1 * i
        messages.append(rig.batch(t, drum_current=5.0 + i, motor_temp=20.0))
        messages.append(rig.state(t, mode="digging" if i < 5 else "fault",
                                  interlocks=[] if i < 5 else ["tilt"]))
    messages.append(messages[3])  # a duplicate the recorder flags and the replay skips
    for n, m in enumerate(messages):
        recorder.handle(m, t0 + 0.01 * n)
    store = await open_store(path)
    try:
        items, _acks = recorder.take()
        await store.write(items)
    finally:
        await store.close()
    return len(messages)


async def test_a_recording_replays_into_a_fleet_model_of_its_own(tmp_path) -> None:
    path = tmp_path / "run.db"
    total = await make_recording(path)
    (tmp_path / "notes.txt").write_text("not a recording")
    assert list_recordings(tmp_path) == ["run.db"] and list_recordings(None) == []
    seen: list[BatchMessage] = []
    replay = ReplaySession(path, prefix="regolith", speed=50.0, owner="alice",
                           on_message=lambda r, s: seen.append(s.message)
                           if isinstance(s.message, BatchMessage) else None)
    await asyncio.wait_for(replay.run(time.time), 20)
    status = replay.status(time.time())
    assert status["done"] and status["error"] == "" and status["played"] == total == replay.total
    assert status["rigs"] == ["rig-1"]
    view = replay.model.rigs["rig-1"]
    assert view.mode == "fault" and view.channels["drum_current"].value == 14.0
    assert [a.cause for a in replay.model.alarms.for_rig("rig-1")] == ["interlock:tilt"]
    assert replay.model.alarms.get("rig-1", "interlock:tilt").state is AlarmState.ACTIVE
    assert len(seen) == 10  # the duplicate was skipped
    assert replay.model.accounting.totals()["duplicates"] == 0


async def test_a_file_that_is_not_a_recording_is_an_error_not_a_crash(tmp_path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite" * 100)
    replay = ReplaySession(path, prefix="regolith", speed=1.0, owner="alice")
    await asyncio.wait_for(replay.run(time.time), 20)
    assert not replay.done and "not a readable recording" in replay.error


async def test_stopping_a_replay_leaves_no_failed_task_behind(tmp_path) -> None:
    path = tmp_path / "run.db"
    await make_recording(path)
    loop = asyncio.get_running_loop()
    problems: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    try:
        replay = ReplaySession(path, prefix="regolith", speed=0.01, owner="alice")
        task = asyncio.create_task(replay.run(time.time))
        async with asyncio.timeout(20):
            while replay.played < 2:
                await asyncio.sleep(0.01)
        task.cancel()  # what the console does to stop or replace a replay
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        for _ in range(5):  # let the loop finalize whatever was left, then collect it
            gc.collect()
            await asyncio.sleep(0.02)
        assert problems == [], [str(p.get("exception") or p["message"]) for p in problems]
    finally:
        loop.set_exception_handler(None)
