"""Bridge against the loopback firmware over a real pseudo-terminal."""

from __future__ import annotations

import asyncio

import pytest

from firmware_bridge.bridge import Bridge, BridgeConfig, Connected, Disconnected
from firmware_bridge.errors import CommandRejectedError, HandshakeError, PortError
from firmware_bridge.link import MessageReceived, PeerReset
from firmware_bridge.loopback import LoopbackFirmware
from firmware_bridge.messages import CommandCode, Event, EventCode, ResultStatus, SampleBatch


@pytest.fixture
async def firmware(tmp_path):
    fw = LoopbackFirmware(str(tmp_path / "rig-tty"))
    await fw.start()
    yield fw
    await fw.stop()


async def next_of(bridge: Bridge, kind, timeout: float = 2.0, where=lambda e: True):
    async with asyncio.timeout(timeout):
        async for ev in bridge.events():
            if isinstance(ev, kind) and where(ev):
                return ev
    raise AssertionError("unreachable")


async def test_handshake_commands_params_and_samples(firmware) -> None:
    async with Bridge(firmware.path) as bridge:
        assert bridge.info.firmware_id == "loopback"
        assert [c.name for c in bridge.info.channels] == ["ch0", "ch1", "ch2", "ch3"]
        # the simulator's rules: STOW needs the motors enabled
        with pytest.raises(CommandRejectedError, match="NOT_ENABLED"):
            await bridge.command(CommandCode.STOW)
        await bridge.command(CommandCode.ENABLE, (1,), until=ResultStatus.DONE)
        result = await bridge.command(CommandCode.STOW, until=ResultStatus.DONE)
        assert result.status is ResultStatus.DONE and result.code == CommandCode.STOW
        assert await bridge.set_param(2, 33.0) == 33.0
        assert await bridge.get_param(2) == 33.0
        bridge.send_setpoints(12.0, 0.05)
        ev = await next_of(bridge, MessageReceived,
                           where=lambda e: isinstance(e.message, SampleBatch))
        assert ev.message.counts.shape == (10, 4)
        async with asyncio.timeout(1):
            while not firmware.setpoints:
                await asyncio.sleep(0.005)
        assert firmware.setpoints[-1].drum_speed == 12.0


async def test_retransmission_under_injected_loss(firmware) -> None:
    async with Bridge(firmware.path) as bridge:
        firmware.drop_rx = 1  # the command's first transmission vanishes
        result = await bridge.command(CommandCode.STOP)
        assert result.status is ResultStatus.ACCEPTED
        assert bridge.link.counters().retransmits >= 1
        assert len([c for c in firmware.commands if c.code is CommandCode.STOP]) == 1


async def test_expired_command_is_rejected_not_executed(firmware) -> None:
    async with Bridge(firmware.path) as bridge:
        with pytest.raises(CommandRejectedError) as err:
            await bridge.command(CommandCode.DUMP, ttl=-0.05)
        assert err.value.reason == "EXPIRED"


async def test_estop_latches_until_reset(firmware) -> None:
    async with Bridge(firmware.path) as bridge:
        await bridge.estop("test")
        ev = await next_of(bridge, MessageReceived, where=lambda e: isinstance(e.message, Event))
        assert ev.message.code == EventCode.ESTOP_LATCHED
        with pytest.raises(CommandRejectedError, match="ESTOP_LATCHED"):
            await bridge.command(CommandCode.ENABLE, (1,))
        await bridge.command(CommandCode.RESET_ESTOP)
        assert (await bridge.command(CommandCode.ENABLE, (1,))).status is ResultStatus.ACCEPTED


async def test_link_loss_detected_then_recovered(firmware) -> None:
    async with Bridge(firmware.path) as bridge:
        loop = asyncio.get_running_loop()
        firmware.mute = True
        t0 = loop.time()
        await next_of(bridge, Disconnected, timeout=1.0)
        assert loop.time() - t0 < 0.5  # 250 ms loss timeout plus scheduling
        firmware.mute = False
        ev = await next_of(bridge, Connected, timeout=3.0)
        assert ev.reconnect


async def test_reconnect_after_port_closes_and_reopens(firmware) -> None:
    async with Bridge(firmware.path, BridgeConfig(backoff_max=0.2)) as bridge:
        firmware.pull_cable()
        await next_of(bridge, Disconnected, timeout=1.0)
        assert not bridge.is_up
        firmware.plug_cable()
        ev = await next_of(bridge, Connected, timeout=3.0)
        assert ev.reconnect and bridge.connections == 2
        assert (await bridge.command(CommandCode.STOP)).status is ResultStatus.ACCEPTED


async def test_firmware_reset_is_reported_and_session_restarts(firmware) -> None:
    async with Bridge(firmware.path) as bridge:
        firmware.reboot()
        ev = await next_of(bridge, PeerReset, timeout=1.0)
        assert ev.notice.boot_id == 2
        ev = await next_of(bridge, Connected, timeout=3.0)
        assert ev.info.boot_id == 2


async def test_missing_port_and_not_a_tty_are_port_errors(tmp_path) -> None:
    with pytest.raises(PortError, match="cannot open serial port .*no-such-tty"):
        async with Bridge(str(tmp_path / "no-such-tty")):
            pass
    with pytest.raises(PortError, match="cannot open serial port"):
        async with Bridge(str(tmp_path)):  # a directory
            pass


async def test_silent_port_gives_handshake_timeout(tmp_path) -> None:
    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with pytest.raises(HandshakeError, match="no handshake .* within 0.5 s"):
            async with Bridge(os.ttyname(slave), BridgeConfig(connect_timeout=0.5)):
                pass
    finally:
        os.close(master)
        os.close(slave)
