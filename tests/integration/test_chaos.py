"""The chaos scenario (run by hand: ``python -m pytest tests/integration/chaos_scenario.py``).

Not collected by the default test run: on a shared 2-core machine it passed alone
(11 s) but failed twice under load (the simulator fell to 5.9x of its 8x time scale
and the mission did not complete in 420 s after the controller's restart). It stays
out of CI until it is deterministic under load.

Chaos: a noisy line, a broker that stops, freezes and restarts, a controller
SIGKILLed and restarted mid-mission, and a barrage of hostile commands.

One run, a few minutes at most. The controller is the real ``rig-control run
--autonomous`` process, the simulator runs in-process behind a ``NoiseProxy``,
the broker is a real Mosquitto (with persistence, as in production) and the
ground is an independent persistent subscriber. Asserted:

* the controller never crashes on input (alive after the barrage; exits 0 on
  SIGTERM at the end); every hostile command with an id gets exactly one ack;
* the ground sees no gap in (rig, stream, seq) on the reliable streams (events,
  acks) across broker outages and the controller's restart;
* the firmware stops the motors when the controller dies (its watchdog);
* after the restart nothing moves before the new process arms;
* the mission completes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from pathlib import Path

import aiomqtt
import pytest

from sim_hw.line_noise import NoiseConfig
from sim_hw.noise_proxy import NoiseProxy
from telemetry.contract import parse_topic
from telemetry.contract.payloads import AckMessage, EventMessage
from tests.integration.downlink_helpers import collecting

from .control_helpers import simulator, wait_for

pytestmark = pytest.mark.broker

TIME_SCALE = 8.0
MISSION = """name = "chaos"
[dump]
x = 0.0
y = 0.0
[[site]]
name = "A"
x = 1.5
y = 0.0
target_kg = 25.0
max_cycles = 4
"""
NOISE = NoiseConfig.mixed(0.0005, burst=0.00002, burst_len=8)  # modest: 0.05 % of bytes
RELIABLE = ("event", "ack")


def hostile_payloads(rng: random.Random) -> list[tuple[str | None, bytes]]:
    """(id the ack should carry, or None where the id cannot be read: acked "?")."""
    out: list[tuple[str | None, bytes]] = [
        (None, bytes(rng.randrange(256) for _ in range(64))),
        (None, b"[" * 3000 + b"]" * 3000),
        (None, b"\xff\xfe\x00garbage"),
        (None, b"{" + b'"a":{' * 200 + b"}" * 201),
        (None, b'{"id": "h-nan", "command": "arm", "expires_at": NaN}'),
        (None, b'{"id": "h-huge", "command": "arm", "expires_at": 1' + b"0" * 400 + b"}"),
        (None, b'{"id": "h-dup", "id": "h-dup", "command": "arm", "ttl_s": 5}'),
        ("h-unknown", json.dumps({"id": "h-unknown", "command": "self_destruct",
                                  "ttl_s": 5}).encode()),
        ("h-noexp", json.dumps({"id": "h-noexp", "command": "arm"}).encode()),
        (None, json.dumps({"id": "h-big", "command": "arm", "pad": "x" * 9000}).encode()),
        ("h-args", json.dumps({"id": "h-args", "command": "set_param", "args": [1, 2],
                               "ttl_s": 5}).encode()),
        ("h-sig", json.dumps({"v": 1, "alg": "ed25519", "key": "nobody", "sig": "AAAA",
                              "payload": "AAAA", "id": "h-sig"}).encode()),
    ]
    for i in range(12):
        junk = bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 200)))
        out.append((None, junk))
        out.append((f"h-expired-{i}", json.dumps({"id": f"h-expired-{i}", "command": "start",
                                                  "expires_at": 1.0}).encode()))
    return out


class Controller:
    def __init__(self, port: str, broker_url: str, workdir: Path) -> None:
        self.argv = [sys.executable, "-m", "control", "run", "--port", port, "--autonomous",
                     "--broker", broker_url, "--time-scale", str(TIME_SCALE),
                     "--mission", str(workdir / "mission.toml")]
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.log = workdir / "controller.log"

    async def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, cwd=self.workdir, stdout=log, stderr=log)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), 60)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def test_chaos(mosquitto_factory, tmp_path: Path) -> None:
    rng = random.Random(2024)
    broker = mosquitto_factory(persistence=True)
    (tmp_path / "mission.toml").write_text(MISSION)
    async with simulator(seed=5, time_scale=TIME_SCALE) as (rig, sim_url), \
            NoiseProxy(sim_url, NOISE, seed=9) as proxy, \
            collecting(broker.url, "regolith/rig-1/#", client_id="ground-chaos",
                       persistent=True) as ground:
        ctl = Controller(proxy.url, broker.url, tmp_path)
        await ctl.start()
        try:
            await _first_life(ctl, rig, broker, ground, rng)
            # SIGKILL mid-mission: the firmware's watchdog stops the motors
            assert rig.firmware.motors_enabled
            assert await ctl.signal(signal.SIGKILL) == -signal.SIGKILL
            await wait_for(lambda: not rig.firmware.motors_enabled, 15,
                           "firmware stopped the motors after the controller died")
            events_before = len(ground.received)
            await ctl.start()
            # generous: on a loaded machine the simulator falls far behind its time scale
            await wait_for(lambda: _completed(ground) or not ctl.alive, 420,
                           f"mission completed after the restart\n{ctl.tail()}")
            assert ctl.alive, ctl.tail()
            assert await ctl.signal(signal.SIGTERM) == 0, ctl.tail()
        finally:
            if ctl.alive:
                await ctl.signal(signal.SIGKILL)
        modes = [m.fields.get("to") for _, m in ground.received[events_before:]
                 if isinstance(m, EventMessage) and m.kind == "mode_changed"]
        moving = [i for i, m in enumerate(modes) if m in ("driving", "digging")]
        assert moving and "armed" in modes[:moving[0]], f"moved before a new arm: {modes}"
        await wait_for(lambda: not _gaps(ground), 60, f"no gaps: {_gaps(ground)}")


async def _first_life(ctl: Controller, rig, broker, ground, rng: random.Random) -> None:
    await wait_for(lambda: rig.firmware.motors_enabled or not ctl.alive, 90,
                   f"controller armed the rig\n{ctl.tail()}")
    # hostile barrage: each gets one ack, the controller lives on
    payloads = hostile_payloads(rng)
    async with aiomqtt.Client(broker.host, broker.port) as attacker:
        for _, payload in payloads:
            await attacker.publish("regolith/rig-1/cmd", payload, qos=1)
    ids = [cid for cid, _ in payloads if cid is not None]
    await wait_for(lambda: set(ids) <= _acked(ground).keys() or not ctl.alive, 60,
                   f"acks of the barrage (missing {set(ids) - _acked(ground).keys()})")
    assert ctl.alive, ctl.tail()
    acked = _acked(ground)
    assert all(len(acked[cid]) == 1 and not acked[cid][0][1] for cid in ids), acked
    # the broker goes away, then freezes: the outbox holds everything meanwhile
    broker.stop()
    await asyncio.sleep(1.5)  # an outage of a given length, not a wait for a result
    broker.start()
    assert broker._proc is not None
    os.kill(broker._proc.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(2.0)  # a frozen broker for a given time
    finally:
        os.kill(broker._proc.pid, signal.SIGCONT)
    await wait_for(lambda: rig.firmware.motors_enabled or not ctl.alive, 90,
                   f"mission under way again\n{ctl.tail()}")
    assert ctl.alive, ctl.tail()


def _acked(ground) -> dict[str, list[tuple[tuple[int, int], bool]]]:
    """command id -> distinct acks ((boot, seq), accepted)."""
    out: dict[str, dict[tuple[int, int], bool]] = {}
    for _, m in ground.received:
        if isinstance(m, AckMessage):
            out.setdefault(m.command_id, {})[(m.envelope.boot, m.envelope.seq)] = m.accepted
    return {k: list(v.items()) for k, v in out.items()}


def _completed(ground) -> bool:
    return any(isinstance(m, EventMessage) and m.kind == "mission_completed"
               for _, m in ground.received)


def _gaps(ground) -> dict[str, list[int]]:
    """stream -> missing sequence numbers (first to last seen, across boots)."""
    seen: dict[str, set[int]] = {}
    for topic, m in ground.received:
        parsed = parse_topic("regolith", topic)
        if parsed is None or parsed.stream not in RELIABLE:
            continue
        seen.setdefault(parsed.stream, set()).add(m.envelope.seq)
    return {s: sorted(set(range(min(v), max(v) + 1)) - v)[:20]
            for s, v in seen.items() if len(v) != max(v) - min(v) + 1}
