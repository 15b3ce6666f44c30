"""The sans-I/O link with plain numbers for time: no ports, no clocks, no sleeps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import framing
from firmware_bridge.codec import HEADER
from firmware_bridge.errors import BridgeUsageError, LinkDownError
from firmware_bridge.link import (
    DeliveryFailed,
    HandshakeCompleted,
    HandshakeFailed,
    Link,
    LinkConfig,
    LinkLost,
    LinkState,
    MessageDelivered,
    MessageReceived,
    PeerReset,
    Role,
    SampleGap,
    seq_after,
)
from firmware_bridge.messages import (
    ChannelInfo,
    Command,
    CommandCode,
    FirmwareInfo,
    MsgType,
    ResetNotice,
    ResetReason,
    SampleBatch,
)

INFO = FirmwareInfo(1, "test-fw", (1, 2, 3), 0, 99, 0, 1000, 5,
                    (ChannelInfo(0, "drum_current", "A", 0.0078125),))


class Pair:
    """Two links joined by a wire we control: drop, duplicate or delay nothing by default."""

    def __init__(self, config: LinkConfig | None = None, info: FirmwareInfo = INFO) -> None:
        self.host = Link(Role.HOST, config)
        self.fw = Link(Role.FIRMWARE, config, firmware_info=info)
        self.now = 0.0
        self.host_events: list = []
        self.fw_events: list = []
        self.cut_host_to_fw = False
        self.cut_fw_to_host = False

    def pump(self) -> None:
        for _ in range(10):
            a = self.host.data_to_send()
            b = self.fw.data_to_send()
            if not a and not b:
                break
            if a and not self.cut_host_to_fw:
                self.fw.receive_data(a, self.now)
            if b and not self.cut_fw_to_host:
                self.host.receive_data(b, self.now)
        self._drain()

    def _drain(self) -> None:
        while (e := self.host.next_event()) is not None:
            self.host_events.append(e)
        while (e := self.fw.next_event()) is not None:
            self.fw_events.append(e)

    def advance(self, until: float, step: float = 0.001) -> None:
        while self.now < until - 1e-12:
            self.now = round(self.now + step, 9)
            for link in (self.host, self.fw):
                t = link.get_timer()
                if t is not None and t <= self.now:
                    link.handle_timer(self.now)
            self.pump()

    def connect(self) -> None:
        self.host.connect(self.now, session_id=0xABCD)
        self.pump()
        assert self.host.state is LinkState.UP and self.fw.state is LinkState.UP


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def cmd(code=CommandCode.STOP):
    return Command(code, deadline_us=10**9)


def test_handshake_both_sides() -> None:
    p = Pair()
    p.connect()
    (h,) = of(p.host_events, HandshakeCompleted)
    assert h.info.firmware_id == "test-fw" and h.info.session_id == 0xABCD
    (f,) = of(p.fw_events, HandshakeCompleted)
    assert f.hello.session_id == 0xABCD and f.hello.watchdog_ms == 250


def test_hello_is_repeated_until_answered() -> None:
    p = Pair()
    p.cut_host_to_fw = True
    p.host.connect(0.0, session_id=7)
    p.advance(0.45)
    assert p.host.state is LinkState.HANDSHAKING
    assert p.host.stats.frames_tx == 5  # t=0, 0.1, 0.2, 0.3, 0.4
    p.cut_host_to_fw = False
    p.advance(0.61)
    assert p.host.state is LinkState.UP


def test_rehandshake_reuses_the_cached_channel_table() -> None:
    p = Pair()
    p.connect()
    first = p.host.peer_info
    assert first.channels == INFO.channels and not first.table_omitted
    p.host.connect(p.now, session_id=0xBEEF)
    hello_bytes = p.host.data_to_send()
    p.fw.receive_data(hello_bytes, p.now)
    answer = p.fw.data_to_send()
    assert len(answer) < 120  # no channel table on the wire this time
    p.host.receive_data(answer, p.now)
    assert p.host.state is LinkState.UP
    assert p.host.peer_info.channels == INFO.channels
    assert p.host.peer_info.session_id == 0xBEEF


def test_omitted_table_with_unknown_crc_is_not_trusted() -> None:
    from firmware_bridge.codec import encode_frame

    host = Link(Role.HOST)
    host.connect(0.0, session_id=3)
    host.data_to_send()
    forged = replace(INFO, session_id=3, channels=(), table_omitted=True, table_crc=123)
    host.receive_data(encode_frame(forged, seq=0), 0.0)
    assert host.state is LinkState.HANDSHAKING
    assert host.next_event() is None


def test_version_mismatch_is_a_clear_failure() -> None:
    p = Pair(info=replace(INFO, protocol_version=2))
    p.host.connect(0.0)
    p.pump()
    (f,) = of(p.host_events, HandshakeFailed)
    assert "version 2" in f.reason and "speaks 1" in f.reason
    assert p.host.state is LinkState.FAILED


def test_answer_to_an_older_hello_is_ignored() -> None:
    p = Pair()
    p.host.connect(0.0, session_id=1)
    stale = p.host.data_to_send()
    p.host.connect(0.0, session_id=2)
    p.host.data_to_send()
    p.fw.receive_data(stale, 0.0)  # the firmware answers session 1
    p.host.receive_data(p.fw.data_to_send(), 0.0)
    assert p.host.state is LinkState.HANDSHAKING
    assert p.host.stats.ignored >= 1


def test_reliable_message_delivered_once_and_acked() -> None:
    p = Pair()
    p.connect()
    seq = p.host.send(cmd(), p.now)
    p.pump()
    got = of(p.fw_events, MessageReceived)
    assert [e.message.code for e in got] == [CommandCode.STOP] and got[0].seq == seq == 1
    assert [e.seq for e in of(p.host_events, MessageDelivered)] == [1]


def test_retransmit_after_loss_then_delivered_once() -> None:
    p = Pair()
    p.connect()
    p.host.send(cmd(), p.now)
    p.host.data_to_send()  # lost on the wire
    p.advance(0.049)
    assert not of(p.fw_events, MessageReceived)
    p.advance(0.060)
    assert len(of(p.fw_events, MessageReceived)) == 1
    assert p.host.stats.retransmits == 1
    assert len(of(p.host_events, MessageDelivered)) == 1


def test_a_reliable_payload_is_encoded_once_however_often_it_is_sent(monkeypatch) -> None:
    import firmware_bridge.codec as codec_module
    import firmware_bridge.link as link_module

    p = Pair()
    p.connect()
    calls = []
    real = codec_module.encode_payload
    for module in (codec_module, link_module):
        monkeypatch.setattr(module, "encode_payload", lambda m: calls.append(m) or real(m))
    msg = cmd()
    p.host.send(msg, p.now)
    assert p.host.data_to_send()  # the first transmission, lost on the wire
    p.advance(0.060)  # one retransmission, delivered
    assert p.host.stats.retransmits == 1 and len(of(p.fw_events, MessageReceived)) == 1
    assert sum(m is msg for m in calls) == 1  # heartbeats are encoded as they go


def test_duplicates_are_suppressed() -> None:
    p = Pair()
    p.connect()
    p.host.send(cmd(), p.now)
    wire = p.host.data_to_send()
    p.fw.receive_data(wire, p.now)
    p.fw.receive_data(wire, p.now)
    p.pump()
    assert len(of(p.fw_events, MessageReceived)) == 1
    assert p.fw.stats.duplicates == 1


def test_out_of_order_waits_for_go_back_n() -> None:
    p = Pair()
    p.connect()
    p.host.send(Command(CommandCode.STOP, 10**9), p.now)
    p.host.data_to_send()  # seq 1 lost
    p.host.send(Command(CommandCode.DUMP, 10**9), p.now)
    p.pump()  # seq 2 arrives first: not delivered
    assert not of(p.fw_events, MessageReceived)
    assert p.fw.stats.out_of_order == 1
    p.advance(0.06)
    codes = [e.message.code for e in of(p.fw_events, MessageReceived)]
    assert codes == [CommandCode.STOP, CommandCode.DUMP]


def test_retries_exhausted_fails_and_loses_link() -> None:
    cfg = LinkConfig(max_retries=3, loss_timeout=10.0)
    p = Pair(cfg)
    p.connect()
    p.cut_host_to_fw = True
    p.host.send(cmd(), p.now)
    p.advance(0.05 * 3 + 0.01)
    assert not of(p.host_events, DeliveryFailed)
    p.advance(0.05 * 4 + 0.02)
    (failed,) = of(p.host_events, DeliveryFailed)
    assert failed.seq == 1 and "unacknowledged after 3" in failed.reason
    assert p.host.state is LinkState.LOST
    assert p.host.stats.retransmits == 3


def test_rx_loss_detected_at_the_timeout_not_before() -> None:
    p = Pair()
    p.connect()
    p.advance(0.1)
    p.cut_fw_to_host = True
    p.fw.status = 0
    last_rx = p.host._s.last_rx
    p.advance(last_rx + 0.249)
    assert not of(p.host_events, LinkLost)
    p.advance(last_rx + 0.252)
    (lost,) = of(p.host_events, LinkLost)
    assert lost.direction == "rx"


def test_one_way_loss_is_reported_as_tx() -> None:
    p = Pair()
    p.connect()
    p.advance(0.1)
    p.cut_host_to_fw = True  # the firmware still talks; it just stops hearing us
    p.advance(0.5)
    lost = of(p.host_events, LinkLost)
    assert lost and lost[0].direction == "tx"
    # and the firmware, hearing nothing, reports rx loss (its watchdog case)
    assert of(p.fw_events, LinkLost)[0].direction == "rx"


def test_firmware_refuses_frames_outside_a_session_and_host_rehandshakes() -> None:
    p = Pair()
    p.connect()
    p.fw = Link(Role.FIRMWARE, firmware_info=INFO)  # firmware rebooted silently
    p.host.send(cmd(), p.now)
    p.pump()
    lost = of(p.host_events, LinkLost)
    assert lost and lost[0].direction == "peer"
    assert of(p.host_events, DeliveryFailed)
    assert not of(p.fw_events, MessageReceived)  # nothing executed


def test_reset_notice_is_reported_and_session_dropped() -> None:
    from firmware_bridge.codec import encode_frame

    p = Pair()
    p.connect()
    p.host.receive_data(encode_frame(ResetNotice(5, ResetReason.WATCHDOG), seq=0), p.now)
    p._drain()
    assert of(p.host_events, PeerReset)[0].notice.boot_id == 5
    assert p.host.state is LinkState.LOST


def test_sample_gaps_are_reported_per_stream() -> None:
    p = Pair()
    p.connect()
    counts = np.zeros((5, 1), np.int16)
    for s in (0, 1, 4):
        p.fw.send(SampleBatch(0, s, 0, 1000, counts), p.now)
    p.pump()
    (gap,) = of(p.host_events, SampleGap)
    assert (gap.expected_seq, gap.got_seq, gap.missing) == (2, 4, 2)
    assert p.host.stats.samples_lost == 10


def test_malformed_reliable_payload_is_nacked_not_executed() -> None:
    p = Pair()
    p.connect()
    bad = framing.encode_frame(HEADER.pack(1, MsgType.COMMAND, 1, 0, 1, 0) + b"\x00" * 5)
    p.fw.receive_data(bad, p.now)
    p.host.send(cmd(), p.now)  # also seq 1 on the host side: gets NACKed as BAD_LENGTH
    p.host.data_to_send()
    p.host.receive_data(p.fw.data_to_send(), p.now)
    p._drain()
    (failed,) = of(p.host_events, DeliveryFailed)
    assert "BAD_LENGTH" in failed.reason
    assert not of(p.fw_events, MessageReceived)
    assert p.fw.counters().decode_errors == 1


def test_garbage_between_frames_is_counted_and_link_survives() -> None:
    p = Pair()
    p.connect()
    p.host.send(cmd(), p.now)
    wire = p.host.data_to_send()
    p.fw.receive_data(b"\x13\x37garbage\x00" + wire + b"\xff\xfe\x00", p.now)
    p.pump()
    assert len(of(p.fw_events, MessageReceived)) == 1
    assert p.fw.counters().framing_errors + p.fw.counters().crc_errors == 2


def test_send_misuse_raises_typed_errors() -> None:
    p = Pair(LinkConfig(window=1, max_queued=2))
    with pytest.raises(LinkDownError):
        p.host.send(cmd(), 0.0)
    p.connect()
    for _ in range(3):
        p.host.send(cmd(), p.now)  # 1 in flight, 2 queued
    with pytest.raises(BridgeUsageError, match="queue full"):
        p.host.send(cmd(), p.now)
    with pytest.raises(BridgeUsageError, match="loss_timeout"):
        LinkConfig(heartbeat_interval=0.3, loss_timeout=0.25)


def test_clock_estimate_is_on_the_safe_side() -> None:
    p = Pair()
    p.fw.set_clock_origin(0.0, time_us=5_000_000)
    p.connect()
    p.advance(0.2)
    est = p.host.peer_time_us(p.now)
    true = p.fw.local_time_us(p.now)
    assert abs(est - true) < 2_000  # within the 1 ms simulation step


@given(a=st.integers(0, 2**32 - 1), d=st.integers(1, 2**31 - 1))
def test_serial_arithmetic(a, d) -> None:
    b = (a + d) % 2**32
    assert seq_after(b, a) and not seq_after(a, b) and not seq_after(a, a)
