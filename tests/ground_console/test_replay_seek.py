"""Replay seeking: the replayed stream restarts at the requested recording time, with the
state of that instant (the session itself, then through the console's API and WebSocket)."""

from __future__ import annotations

import asyncio
import json
import time

from telemetry.contract.payloads import BatchMessage
from telemetry.ground.console.replay import ReplaySession
from telemetry.ground.record import Recorder
from telemetry.ground.stores import open_store

from .test_console_app import Browser, console
from .test_fleet_watch import Rig
from .ws_client import WsClient

T0 = 1_750_000_000.0
SPAN_S = 120  # one batch and one state a second


async def long_recording(path) -> None:
    """Two minutes of a rig: digging for the first minute, then in fault (tilt)."""
    rig, recorder = Rig(), Recorder("regolith")
    recorder.handle(rig.status(True, T0), T0)
    for i in range(SPAN_S):
        t = T0 + i
        recorder.handle(rig.batch(t, drum_current=float(i)), t)
        recorder.handle(rig.state(t, mode="digging" if i < 60 else "fault",
                                  interlocks=[] if i < 60 else ["tilt"]), t)
    store = await open_store(path)
    try:
        await store.write(recorder.take()[0])
    finally:
        await store.close()


async def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.01)  # polled under an explicit deadline


async def test_a_seek_restarts_the_stream_at_the_requested_time(tmp_path) -> None:
    path = tmp_path / "run.db"
    await long_recording(path)
    pushed: list[float] = []
    replay = ReplaySession(path, prefix="regolith", speed=1.0, owner="alice",
                           on_message=lambda r, s: pushed.append(s.message.envelope.t_rig)
                           if isinstance(s.message, BatchMessage) else None)
    task = asyncio.create_task(replay.run(time.time, hold_at_end=True))
    try:
        await until(lambda: len(pushed) >= 1, 10, "the first rows")
        assert pushed[0] == T0 and replay.model.rigs["rig-1"].mode == "digging"
        at = replay.seek(T0 + 90.5, time.time())
        assert at == T0 + 90.5 and replay.seeks == 1
        mark = len(pushed)
        await until(lambda: len(pushed) > mark, 10, "rows after the seek")
        # the stream restarted at 90.5 s: nothing before it was pushed again...
        assert pushed[mark] == T0 + 91 and all(t >= T0 + 91 for t in pushed[mark:])
        # ...and the model holds the state of that instant, fast-forwarded
        view = replay.model.rigs["rig-1"]
        assert view.mode == "fault" and view.channels["drum_current"].value >= 90.0
        assert "interlock:tilt" in [a.cause for a in replay.model.alarms.for_rig("rig-1")]
        assert replay.now(time.time()) >= T0 + 90.5
        # backwards, paused: the cursor stands at 10 s and nothing plays
        replay.pause(time.time())
        replay.seek(T0 + 10.0, time.time())
        await until(lambda: replay.played >= 20, 10, "the fast-forward to 10 s")
        mark = len(pushed)
        await asyncio.sleep(0.3)  # paused: no row may come (a bounded negative check)
        assert len(pushed) == mark and replay.now(time.time()) == T0 + 10.0
        assert replay.model.rigs["rig-1"].mode == "digging"
        # past the end: clamped; the session holds at the end, then a seek plays again
        replay.resume(time.time())
        assert replay.seek(T0 + 10_000, time.time()) == T0 + SPAN_S - 1
        await until(lambda: replay.done, 10, "the end")
        assert not task.done()
        replay.seek(T0 + 100, time.time())
        mark = len(pushed)
        await until(lambda: len(pushed) > mark, 10, "rows after seeking from the end")
        assert pushed[mark] == T0 + 100
    finally:
        replay.close()
        await asyncio.wait_for(task, 10)
    assert replay._store is None  # closed


async def test_seek_through_the_console_api(mosquitto, tmp_path) -> None:
    recordings = tmp_path / "recs"
    recordings.mkdir()
    await long_recording(recordings / "run.db")
    async with console(mosquitto.url, tmp_path, recordings=recordings) as (port, _):
        alice = Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        csrf = await alice.csrf()
        status, started = await alice.post_json("/api/replays", {"file": "run.db", "speed": 1.0},
                                                csrf)
        assert status == 200, started
        rid = started["id"]
        ws = await WsClient.open(port, "; ".join(f"{k}={v}" for k, v in alice.cookies.items()))
        await ws.send_text(json.dumps({"source": rid, "rig": "rig-1"}))
        await until_rows(ws, lambda t: t[0] < T0 + 30, "rows from the start")
        status, body = await alice.post_json(f"/api/replays/{rid}",
                                             {"action": "seek", "at_s": 75}, csrf)
        assert status == 200 and body["seeks"] == 1 and body["position"] >= T0 + 75
        # the stream restarts at 75 s: the first rows after the seek's status are from there
        # (rows are in UTC: a batch's rows end when it was queued, its t_rig)
        times = await until_rows(ws, lambda t: t[-1] >= T0 + 74.5, "rows from 75 s")
        assert round(times[-1] + 0.01, 2) in (T0 + 75, T0 + 76), times
        status, body = await alice.post_json(f"/api/replays/{rid}",
                                             {"action": "seek", "at_s": "soon"}, csrf)
        assert status == 400 and "at_s" in body["error"]
        status, body = await alice.post_json(f"/api/replays/{rid}", {"action": "stop"}, csrf)
        assert status == 200


async def until_rows(ws: WsClient, accept, what: str) -> list[float]:
    """Read the socket until a rows message whose times ``accept`` takes; its times."""
    async with asyncio.timeout(15):
        while True:
            msg = json.loads(await ws.next_text(15))
            items = msg["items"] if msg["type"] == "history" else [msg]
            for item in items:
                if item["type"] == "rows" and accept(item["t"]):
                    return item["t"]
