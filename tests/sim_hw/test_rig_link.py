"""The bridge talks to the simulator over a real pty and over TCP; every fault is seen."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from firmware_bridge import framing
from firmware_bridge.bridge import Connected, Disconnected
from firmware_bridge.codec import HEADER
from firmware_bridge.errors import CommandRejectedError
from firmware_bridge.link import LinkState
from firmware_bridge.messages import (
    PROTOCOL_VERSION,
    Command,
    CommandCode,
    CommandResult,
    Event,
    EventCode,
    Flags,
    MsgType,
    Nack,
    Param,
    Reason,
    ResultStatus,
    SampleBatch,
)
from sim_hw import NO_READING, RigConfig, TcpSpec, parse_fault

from .helpers import (
    RawHost,
    bridged,
    is_batch,
    is_event,
    poll,
    port_spec,
    running,
    streaming_setpoints,
    wait_event,
)

CONTRACT = [
    ("drum_current", "A", 0), ("drum_speed", "rad/s", 0), ("cut_depth", "m", 0),
    ("arm_current", "A", 0), ("bucket_load", "kg", 0), ("pitch", "deg", 0), ("roll", "deg", 0),
    ("motor_temp", "degC", 0), ("battery_voltage", "V", 0), ("battery_current", "A", 0),
    ("vibration", "m/s^2", 0), ("arm_position", "m", 0), ("x", "m", 1), ("y", "m", 1),
    ("heading", "rad", 1), ("battery_soc", "%", 1),
]


@pytest.mark.parametrize("kind", ["pty", "tcp"])
async def test_handshake_streams_commands_params(kind: str, tmp_path) -> None:
    async with bridged(RigConfig(port=port_spec(kind, tmp_path), seed=3)) as (rig, bridge):
        info = bridge.info
        assert info is not None and info.sample_rate_hz == 1000 and info.batch_samples == 5
        assert [(c.name, c.unit, c.stream_id) for c in info.channels] == CONTRACT
        first = (await wait_event(bridge, is_batch(0))).message
        second = (await wait_event(bridge, is_batch(0))).message
        assert first.counts.shape == (5, 12) and first.period_ns == 1_000_000
        assert second.stream_seq == first.stream_seq + 1
        assert second.t0_us - first.t0_us == 5000
        slow = (await wait_event(bridge, is_batch(1))).message
        assert slow.counts.shape == (1, 4) and slow.period_ns == 50_000_000
        # physical values through the announced scales: the rig starts stowed, 90 % charged
        phys = second.counts[-1] * np.array([c.scale for c in info.channels[:12]])
        assert phys[11] == pytest.approx(0.30, abs=0.005)
        assert 45 < phys[8] < 51
        assert slow.counts[0, 3] * info.channels[15].scale == pytest.approx(90, abs=0.5)

        assert await bridge.get_param(Param.SAMPLE_RATE_HZ) == 1000
        assert await bridge.set_param(Param.WATCHDOG_MS, 400) == 400
        with pytest.raises(CommandRejectedError, match="READ_ONLY"):
            await bridge.set_param(Param.BATCH_SAMPLES, 7)
        with pytest.raises(CommandRejectedError, match="OUT_OF_RANGE"):
            await bridge.set_param(Param.DRUM_CURRENT_LIMIT_A, -1)
        with pytest.raises(CommandRejectedError, match="NOT_ENABLED"):
            await bridge.command(CommandCode.STOW)
        res = await bridge.command(CommandCode.ENABLE, (1,), until=ResultStatus.DONE)
        assert res.status is ResultStatus.DONE
        async with streaming_setpoints(bridge, 3.0, -0.3):
            await poll(lambda: rig.plant.state.omega > 2.5, 3.0, "drum at speed")
            hb = await wait_event(bridge, lambda ev: getattr(ev, "message", None).__class__
                                  .__name__ == "Heartbeat" and ev.message.status & 0x02)
            assert hb.message.status & 0x02  # MOTORS_ENABLED


@pytest.mark.parametrize("kind", ["pty", "tcp"])
async def test_disconnect_and_reconnect(kind: str, tmp_path) -> None:
    async with bridged(RigConfig(port=port_spec(kind, tmp_path))) as (rig, bridge):
        rig.inject(parse_fault("disconnect:duration=0.5"))
        await wait_event(bridge, lambda ev: isinstance(ev, Disconnected), 3.0)
        con = await wait_event(bridge, lambda ev: isinstance(ev, Connected), 6.0)
        assert con.reconnect and con.info.boot_id == 1
        await wait_event(bridge, is_batch(0))
        assert rig.fault_log[0]["kind"] == "disconnect"
        assert rig.stats.disconnects == 1


async def test_reset_gives_a_new_boot_and_loses_state(tmp_path) -> None:
    async with bridged(RigConfig(port=port_spec("pty", tmp_path))) as (rig, bridge):
        await bridge.command(CommandCode.ENABLE, (1,))
        assert rig.firmware.motors_enabled
        rig.inject(parse_fault("reset:reason=brownout"))
        con = await wait_event(bridge, lambda ev: isinstance(ev, Connected) and ev.reconnect, 5.0)
        assert con.info.boot_id == 2
        assert not rig.firmware.motors_enabled
        batch = (await wait_event(bridge, is_batch(0))).message
        assert batch.stream_seq < 50 and batch.t0_us < 1_000_000  # new boot, new clock


async def test_line_corruption_and_loss_show_in_bridge_counters(tmp_path) -> None:
    async with bridged(RigConfig(port=port_spec("tcp", tmp_path))) as (rig, bridge):
        rig.inject(parse_fault("corrupt:rate=0.002,duration=0.5"))
        await poll(lambda: bridge.link.counters().crc_errors > 0, 3.0, "CRC errors")
        await poll(lambda: rig.line.corrupt["tx"] == 0.0, 3.0, "corruption over")
        before = bridge.link.counters()
        rig.inject(parse_fault("drop:rate=0.002,duration=0.5"))
        await poll(lambda: bridge.link.counters().crc_errors
                   + bridge.link.counters().framing_errors
                   > before.crc_errors + before.framing_errors, 3.0, "lost bytes")
        await poll(lambda: bridge.link.counters().sample_gaps > before.sample_gaps, 3.0, "gap")
        assert rig.line.bytes_dropped["tx"] > 0
        # controller -> firmware direction: the firmware counts it
        rig.inject(parse_fault("corrupt:rate=0.05,duration=1,direction=rx"))
        async with streaming_setpoints(bridge, 0.0, -0.3, period=0.005):
            await poll(lambda: rig.link.counters().crc_errors > 0, 3.0, "firmware CRC errors")


async def test_sensor_faults_stuck_dropout_spikes(tmp_path) -> None:
    async with bridged(RigConfig(port=port_spec("pty", tmp_path), seed=5)) as (rig, bridge):
        t = rig.sim_time
        rig.inject(parse_fault(f"stuck@{t + 0.1}:channel=pitch,duration=1"))
        rig.inject(parse_fault(f"dropout@{t + 0.1}:channel=roll,duration=1"))
        rig.inject(parse_fault(f"spikes@{t + 0.1}:channel=vibration,duration=1,rate=500,"
                               "amplitude=40"))
        ev = await wait_event(bridge, is_event(EventCode.SENSOR_FAULT))
        assert ev.message.value == 6 and "roll" in ev.message.text
        rows = []
        while True:  # the batches inside the fault window [t + 0.1, t + 1.1)
            b = (await wait_event(bridge, is_batch(0))).message
            if b.t0_us / 1e6 >= t + 1.0:
                break
            if b.t0_us / 1e6 >= t + 0.1:
                rows.append(b.counts)
        counts = np.concatenate(rows)
        assert np.all(counts[:, 5] == counts[0, 5])  # pitch stuck (noise would move it)
        assert np.all(counts[:, 6] == NO_READING)  # roll gives no reading
        assert np.sum(np.abs(counts[:, 10] * 0.002) > 30) >= 20  # vibration spike burst
        assert len(set(counts[:, 0].tolist())) > 10  # drum current still alive
        restored = await wait_event(bridge, is_event(EventCode.SENSOR_FAULT), 3.0)
        assert "restored" in restored.message.text
        assert [e["kind"] for e in rig.fault_log] == ["stuck", "dropout", "spikes"]


async def test_overtemp_and_low_battery_events(tmp_path) -> None:
    async with bridged(RigConfig(port=port_spec("tcp", tmp_path))) as (rig, bridge):
        rig.inject(parse_fault("overtemp:temp=135"))
        ev = await wait_event(bridge, is_event(EventCode.OVER_TEMPERATURE))
        assert ev.message.value >= 130
        with pytest.raises(CommandRejectedError, match="CAUSE_PRESENT"):
            await bridge.command(CommandCode.ENABLE, (1,))
        rig.inject(parse_fault("lowbatt:soc=12"))
        ev = await wait_event(bridge, is_event(EventCode.LOW_BATTERY))
        assert ev.message.value == pytest.approx(12, abs=0.1)
        slow = (await wait_event(bridge, is_batch(1))).message
        assert slow.counts[0, 3] * 0.005 == pytest.approx(12, abs=0.2)


@pytest.mark.parametrize("spec", ["rock:torque=300,duration=1", "stall:duration=1"])
async def test_rock_strike_stalls_the_drum(spec: str, tmp_path) -> None:
    async with bridged(RigConfig(port=port_spec("pty", tmp_path))) as (rig, bridge):
        await bridge.command(CommandCode.ENABLE, (1,))
        async with streaming_setpoints(bridge, 3.0, -0.3):
            await poll(lambda: rig.plant.state.omega > 2.5, 3.0, "drum at speed")
            rig.inject(parse_fault(spec))
            await wait_event(bridge, is_event(EventCode.CURRENT_LIMIT), 3.0)
            ev = await wait_event(bridge, is_event(EventCode.STALL), 3.0)
            assert ev.message.value == 20.0
            batch = (await wait_event(bridge, is_batch(0))).message
            assert np.mean(batch.counts[:, 0]) * 0.002 > 18  # current at the 20 A limit
            await poll(lambda: rig.plant.state.omega > 2.5, 4.0, "drum turning again")


async def test_panel_estop_latches_until_reset(tmp_path) -> None:
    async with bridged(RigConfig(port=port_spec("tcp", tmp_path))) as (rig, bridge):
        await bridge.command(CommandCode.ENABLE, (1,))
        rig.inject(parse_fault("estop:duration=0.5"))
        ev = await wait_event(bridge, is_event(EventCode.ESTOP_LATCHED))
        assert "panel" in ev.message.text and not rig.firmware.motors_enabled
        with pytest.raises(CommandRejectedError, match="CAUSE_PRESENT"):
            await bridge.command(CommandCode.RESET_ESTOP)
        await poll(lambda: not rig.firmware.estop_cause, 3.0, "button released")
        with pytest.raises(CommandRejectedError, match="ESTOP_LATCHED"):
            await bridge.command(CommandCode.ENABLE, (1,))
        await bridge.command(CommandCode.RESET_ESTOP, until=ResultStatus.DONE)
        await wait_event(bridge, is_event(EventCode.ESTOP_RESET))
        assert not rig.firmware.estop_latched and not rig.firmware.motors_enabled
        await bridge.estop("operator")
        await wait_event(bridge, is_event(EventCode.ESTOP_LATCHED))
        await bridge.command(CommandCode.RESET_ESTOP, until=ResultStatus.DONE)


def _raw_frame(msg_type: int, payload: bytes, seq: int, flags: int = 0) -> bytes:
    return framing.encode_frame(HEADER.pack(PROTOCOL_VERSION, msg_type, flags, 0, seq, 0)
                                + payload)


async def test_malformed_frames_are_counted_and_nacked(tmp_path) -> None:
    async with running(RigConfig(port=TcpSpec())) as rig:
        assert rig.url is not None
        host = await RawHost.open(rig.url)
        host.link.connect(asyncio.get_running_loop().time())
        host.flush()
        assert await host.run(3.0, lambda: host.link.state is LinkState.UP)
        host.write_raw(b"\x05garbage\x17\x00\x00")  # bad COBS / CRC
        host.write_raw(_raw_frame(0x7F, b"hello", 0))  # valid CRC, unknown type
        host.write_raw(_raw_frame(MsgType.COMMAND, b"\x01\x02", 77, Flags.RELIABLE))  # short
        assert await host.run(3.0, lambda: len(host.messages(Nack)) >= 2)
        reasons = {n.reason for n in host.messages(Nack)}
        assert reasons == {Reason.UNKNOWN_TYPE, Reason.BAD_LENGTH}
        c = rig.link.counters()
        assert c.crc_errors + c.framing_errors >= 1 and c.decode_errors == 2
        # still alive: a proper command gets its result
        now = asyncio.get_running_loop().time()
        deadline = host.link.peer_time_us(now) + 500_000
        seq = host.link.send(Command(CommandCode.ENABLE, deadline, (1, 0, 0, 0)), now)
        host.flush()
        assert await host.run(3.0, lambda: any(
            r.command_seq == seq and r.status is ResultStatus.DONE
            for r in host.messages(CommandResult)))
        await host.close()


async def test_watchdog_over_the_link_reports_when_the_link_is_back(tmp_path) -> None:
    async with running(RigConfig(port=TcpSpec())) as rig:
        assert rig.url is not None
        host = await RawHost.open(rig.url)
        host.link.connect(asyncio.get_running_loop().time())
        host.flush()
        assert await host.run(3.0, lambda: host.link.state is LinkState.UP)
        now = asyncio.get_running_loop().time()
        host.link.send(Command(CommandCode.ENABLE, host.link.peer_time_us(now) + 500_000,
                               (1, 0, 0, 0)), now)
        host.flush()
        assert await host.run(2.0, lambda: rig.firmware.motors_enabled)
        # the controller goes silent (no heartbeats, nothing)
        await poll(lambda: rig.firmware.watchdog_tripped, 2.0, "watchdog trip")
        assert not rig.firmware.motors_enabled or rig.firmware.power.value == "stopping"
        host.link.connect(asyncio.get_running_loop().time())  # a new session
        host.flush()
        assert await host.run(3.0, lambda: any(
            e.code == EventCode.WATCHDOG_STOP for e in host.messages(Event)))
        await host.close()


async def test_time_scale_runs_samples_faster_but_link_on_wall_time(tmp_path) -> None:
    cfg = RigConfig(port=port_spec("tcp", tmp_path), time_scale=10.0)
    async with bridged(cfg) as (_rig, bridge):
        loop = asyncio.get_running_loop()

        def newest_batch() -> SampleBatch:  # drain the backlog, keep the newest fast batch
            newest = None
            while (ev := bridge.get_event_nowait()) is not None:
                if is_batch(0)(ev):
                    newest = ev.message
            assert newest is not None
            return newest

        await wait_event(bridge, is_batch(0))
        await asyncio.sleep(0.05)  # let a few batches queue up (what we drain next)
        first = newest_batch()
        hb0 = bridge.link.peer_time_us(loop.time())
        w0 = loop.time()
        await poll(lambda: loop.time() - w0 > 0.5, 2.0)
        later = newest_batch()
        wall = loop.time() - w0
        ratio = (later.t0_us - first.t0_us) / 1e6 / wall
        assert 6 < ratio < 12
        hb_ratio = (bridge.link.peer_time_us(loop.time()) - hb0) / 1e6 / wall
        assert 0.8 < hb_ratio < 1.2
        assert await bridge.get_param(Param.SAMPLE_RATE_HZ) == 1000
