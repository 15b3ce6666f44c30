"""The messages behind the hex test vectors in docs/protocol.md section 9.

Each entry: (name, message, seq, ack, extra flags). The bytes live in the
document (the contract firmware authors implement against); tests check
both directions against it, byte for byte.
"""

from __future__ import annotations

import numpy as np

from firmware_bridge.messages import (
    Ack,
    ChannelInfo,
    Command,
    CommandCode,
    CommandResult,
    EStop,
    Event,
    EventCode,
    FirmwareInfo,
    FirmwareSeverity,
    Flags,
    Heartbeat,
    Hello,
    MsgType,
    Nack,
    Param,
    ParamGet,
    ParamSet,
    ParamStatus,
    ParamValue,
    Reason,
    ResetNotice,
    ResetReason,
    ResultStatus,
    SampleBatch,
    Setpoints,
)

# a batch longer than one COBS block: 288 data bytes without a zero byte
# (so the encoder emits a full 0xFF block)
_LONG_COUNTS = (np.arange(12 * 12, dtype=np.int16).reshape(12, 12) + 0x1111).astype(np.int16)

VECTORS = [
    ("HELLO", Hello(session_id=0x12345678, heartbeat_ms=50, watchdog_ms=250), 0, 0, 0),
    ("HELLO_CACHED", Hello(session_id=0x12345679, heartbeat_ms=50, watchdog_ms=250,
                           table_crc=0x982D1A48), 0, 0, 0),
    (
        "FIRMWARE_INFO",
        FirmwareInfo(
            protocol_version=1,
            firmware_id="rig-fw",
            version=(2, 1, 0),
            session_id=0x12345678,
            boot_id=7,
            capabilities=0x1,
            sample_rate_hz=1000,
            batch_samples=5,
            channels=(
                ChannelInfo(0, "drum_current", "A", 0.001953125, 0.0, 0),
                ChannelInfo(12, "x", "m", 0.015625, -100.0, 1),
            ),
            time_us=1_000_000,
            table_crc=0x982D1A48,
        ),
        0,
        0,
        0,
    ),
    (
        "FIRMWARE_INFO_CACHED",
        FirmwareInfo(
            protocol_version=1,
            firmware_id="rig-fw",
            version=(2, 1, 0),
            session_id=0x12345679,
            boot_id=7,
            capabilities=0x1,
            sample_rate_hz=1000,
            batch_samples=5,
            channels=(),
            time_us=1_250_000,
            table_crc=0x982D1A48,
            table_omitted=True,
        ),
        0,
        0,
        0,
    ),
    ("HEARTBEAT", Heartbeat(time_us=1_500_000, status=0x03, echo_seq=41), 42, 3, Flags.ACK_VALID),
    ("ACK", Ack(), 43, 5, Flags.ACK_VALID),
    ("NACK", Nack(rejected_seq=9, rejected_type=MsgType.COMMAND, reason=Reason.BAD_LENGTH), 44,
     3, Flags.ACK_VALID),
    (
        "SAMPLE_BATCH",
        SampleBatch(
            stream_id=0,
            stream_seq=100,
            t0_us=2_000_000,
            period_ns=1_000_000,
            counts=np.array([[1, -1, 256], [32767, -32768, 0]], dtype=np.int16),
        ),
        45,
        3,
        Flags.ACK_VALID,
    ),
    ("SETPOINTS", Setpoints(deadline_us=2_100_000, drum_speed=12.5, cut_depth=0.0625), 46, 4,
     Flags.ACK_VALID),
    (
        "COMMAND",
        Command(CommandCode.DRIVE_TO, deadline_us=2_500_000, args=(10.0, -2.5, 0.25, 0.0)),
        1,
        0,
        Flags.ACK_VALID,
    ),
    (
        "COMMAND_RESULT",
        CommandResult(1, CommandCode.DUMP, ResultStatus.REJECTED, Reason.BUSY, "arm down"),
        2,
        1,
        Flags.ACK_VALID,
    ),
    ("ESTOP", EStop(source=1, reason="ground"), 2, 0, Flags.ACK_VALID),
    (
        "EVENT",
        Event(3_000_000, EventCode.STALL, FirmwareSeverity.FAULT, 41.5, "drum stalled"),
        3,
        2,
        Flags.ACK_VALID,
    ),
    ("RESET_NOTICE", ResetNotice(boot_id=8, reason=ResetReason.WATCHDOG), 0, 0, 0),
    ("PARAM_GET", ParamGet(Param.WATCHDOG_MS), 3, 2, Flags.ACK_VALID),
    ("PARAM_SET", ParamSet(Param.DRUM_CURRENT_LIMIT_A, 25.0), 4, 2,
     Flags.ACK_VALID),
    ("PARAM_VALUE", ParamValue(4, Param.DRUM_CURRENT_LIMIT_A, ParamStatus.OK, 25.0), 5, 4,
     Flags.ACK_VALID),
    ("SAMPLE_BATCH_LONG",
     SampleBatch(stream_id=0, stream_seq=101, t0_us=2_005_000, period_ns=1_000_000,
                 counts=_LONG_COUNTS), 47, 3, Flags.ACK_VALID),
    # the COMMAND vector sent again: same seq and payload, RETRANSMIT set, the current ack
    ("COMMAND_RETRANSMIT",
     Command(CommandCode.DRIVE_TO, deadline_us=2_500_000, args=(10.0, -2.5, 0.25, 0.0)),
     1, 7, Flags.RETRANSMIT | Flags.ACK_VALID),
    # the firmware without a session: best-effort, no ACK_VALID
    ("NACK_NOT_HANDSHAKEN",
     Nack(rejected_seq=1, rejected_type=MsgType.COMMAND, reason=Reason.NOT_HANDSHAKEN), 3, 0, 0),
    # a cached handshake answered after a watchdog stop (info_flags 0x03)
    (
        "FIRMWARE_INFO_WATCHDOG",
        FirmwareInfo(
            protocol_version=1,
            firmware_id="rig-fw",
            version=(2, 1, 0),
            session_id=0x1234567A,
            boot_id=7,
            capabilities=0x1,
            sample_rate_hz=1000,
            batch_samples=5,
            channels=(),
            time_us=4_000_000,
            table_crc=0x982D1A48,
            table_omitted=True,
            watchdog_tripped=True,
        ),
        0,
        0,
        0,
    ),
    ("EVENT_WATCHDOG_STOP",
     Event(3_750_000, EventCode.WATCHDOG_STOP, FirmwareSeverity.FAULT, 250.0,
           "link lost: rx"), 1, 0,
     Flags.ACK_VALID),
    ("EVENT_STANDSTILL",
     Event(3_862_000, EventCode.STANDSTILL, FirmwareSeverity.INFO, 112.0, "standstill"), 2, 0,
     Flags.ACK_VALID),
]
