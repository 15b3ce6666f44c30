"""Typed messages of the rig wire protocol (docs/protocol.md section 4).

One frozen, slotted dataclass per message type and an ``IntEnum`` of wire
codes. Messages carry only payload fields; sequence numbers and flags live in
the frame header and are handled by the link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

import numpy as np

PROTOCOL_VERSION = 1  # the header byte: every 1.x revision is wire-compatible
#: the document revision of docs/protocol.md this code implements (major, minor)
PROTOCOL_REVISION = (1, 2)
PROTOCOL_REVISION_TEXT = f"{PROTOCOL_REVISION[0]}.{PROTOCOL_REVISION[1]}"

#: SAMPLE_BATCH count of a sensor that gives no reading (section 4.6); quantisation
#: never produces it (the rails are +-COUNT_RAIL)
NO_READING = -32768
#: a count at or beyond +-COUNT_RAIL is the sensor or its converter at full scale
COUNT_RAIL = 32767


class MsgType(IntEnum):
    HELLO = 0x01
    FIRMWARE_INFO = 0x02
    HEARTBEAT = 0x03
    ACK = 0x04
    NACK = 0x05
    SAMPLE_BATCH = 0x10
    SETPOINTS = 0x20
    COMMAND = 0x21
    COMMAND_RESULT = 0x22
    ESTOP = 0x30
    EVENT = 0x31
    RESET_NOTICE = 0x32
    PARAM_GET = 0x40
    PARAM_SET = 0x41
    PARAM_VALUE = 0x42


#: Types carried in the reliable class (acked, retransmitted, de-duplicated).
RELIABLE_TYPES = frozenset(
    {
        MsgType.COMMAND,
        MsgType.COMMAND_RESULT,
        MsgType.ESTOP,
        MsgType.EVENT,
        MsgType.PARAM_GET,
        MsgType.PARAM_SET,
        MsgType.PARAM_VALUE,
    }
)


class Flags(IntFlag):
    RELIABLE = 0x01
    RETRANSMIT = 0x02
    ACK_VALID = 0x04


class Reason(IntEnum):
    """Reason codes shared by NACK and COMMAND_RESULT (section 4.12)."""

    NONE = 0
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_VALUE = 3
    UNSUPPORTED_VERSION = 4
    NOT_HANDSHAKEN = 5
    EXPIRED = 6
    ESTOP_LATCHED = 7
    BUSY = 8
    NOT_ENABLED = 9
    UNKNOWN_COMMAND = 10
    CAUSE_PRESENT = 11
    INTERRUPTED = 12
    LIMIT = 13


class CommandCode(IntEnum):
    ENABLE = 1  # arg0: 1 enable motors, 0 disable (controlled stop)
    STOP = 2  # controlled stop of every motion (IEC 60204-1 category 1)
    DRIVE_TO = 3  # arg0 x m, arg1 y m, arg2 speed m/s, arg3 arm: 0 hold, 1 follow
    DUMP = 4  # empty the bucket (arm must be stowed)
    STOW = 5  # raise the arm to its stowed position
    RESET_ESTOP = 6  # clear a latched e-stop; never restarts motion


class ResultStatus(IntEnum):
    ACCEPTED = 0
    IN_PROGRESS = 1
    DONE = 2
    REJECTED = 3
    FAILED = 4


class EventCode(IntEnum):
    BOOT = 1
    WATCHDOG_STOP = 2
    ESTOP_LATCHED = 3
    ESTOP_RESET = 4
    CURRENT_LIMIT = 5
    STALL = 6
    END_STOP = 7
    OVER_TEMPERATURE = 8
    LOW_BATTERY = 9
    DUMP_DONE = 10
    DRIVE_DONE = 11
    STOW_DONE = 12
    SENSOR_FAULT = 13
    FAULT_INJECTED = 14
    PARAM_CHANGED = 15
    STANDSTILL = 16  # a controlled stop reached standstill; value: ms since the stop began


class FirmwareSeverity(IntEnum):
    """Severity of a firmware ``Event`` on the serial wire (section 4.11); the ground's
    event severities are ``telemetry.contract.Severity``."""

    INFO = 0
    WARNING = 1
    FAULT = 2
    CRITICAL = 3


class Capability(IntFlag):
    """What a firmware implements beyond the base protocol: FIRMWARE_INFO's
    ``capabilities`` (section 4.2). A host uses a feature only when its bit is set."""

    DRIVE_ARM_FOLLOW = 0x01  # DRIVE_TO arg3 = 1 and DUMP on arrival (section 4.8)


class HelloFlag(IntFlag):
    """What a host asks for beyond revision 1.1: HELLO's ``hello_flags`` (the u16 at
    offset 2, reserved and 0 in 1.1; other bits 0 and ignored, section 4.1)."""

    WANTS_CHANNEL_EXTRA = 0x01  # 1.2: the per-channel extra block after the table (4.2.1)


class Status(IntFlag):
    """Firmware status bits in HEARTBEAT (section 4.3)."""

    ESTOP = 0x01
    MOTORS_ENABLED = 0x02
    WATCHDOG_TRIPPED = 0x04
    DRIVING = 0x08
    DUMPING = 0x10
    FAULT = 0x20
    STOWING = 0x40


class ResetReason(IntEnum):
    POWER_ON = 0
    WATCHDOG = 1
    BROWNOUT = 2
    COMMANDED = 3
    FAULT = 4


class Param(IntEnum):
    """Standard parameter ids (section 4.13); firmware may define more >= 0x100."""

    WATCHDOG_MS = 1
    DRUM_CURRENT_LIMIT_A = 2
    ARM_RATE_LIMIT_M_S = 3
    SAMPLE_RATE_HZ = 4
    BATCH_SAMPLES = 5
    DRUM_SPEED_KP = 6
    DRUM_SPEED_KI = 7
    MAX_DRUM_SPEED_RAD_S = 8
    SITE_HALF_SIZE_M = 9  # 1.2: DRIVE_TO targets within +- this (section 4.8)
    SLOW_STREAM_RATE_HZ = 10  # 1.2: stream 1's sample rate, 0 without stream 1 (4.6)


class ParamStatus(IntEnum):
    OK = 0
    UNKNOWN_PARAM = 1
    OUT_OF_RANGE = 2
    READ_ONLY = 3


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    channel_id: int
    name: str
    unit: str
    scale: float  # physical = offset + scale * count
    offset: float = 0.0
    stream_id: int = 0  # the sample stream whose batches carry this channel
    #: 1.2: one standard deviation of the sensor's noise at rest, in counts; 0 unknown
    #: (it may read bit-identical counts while nothing moves), 0xFFFF always noisy; sent
    #: in the extra block to a host that set HelloFlag.WANTS_CHANNEL_EXTRA (4.2.1)
    noise_floor_counts: int = 0


@dataclass(frozen=True, slots=True)
class Hello:
    session_id: int
    proto_min: int = PROTOCOL_VERSION
    proto_max: int = PROTOCOL_VERSION
    heartbeat_ms: int = 25
    watchdog_ms: int = 250
    table_crc: int = 0  # CRC of the channel table the host has cached (0: none)
    hello_flags: int = 0  # HelloFlag bits (1.2, 4.1)


@dataclass(frozen=True, slots=True)
class FirmwareInfo:
    protocol_version: int
    firmware_id: str
    version: tuple[int, int, int]
    session_id: int
    boot_id: int
    capabilities: int
    sample_rate_hz: int
    batch_samples: int
    channels: tuple[ChannelInfo, ...]
    time_us: int = 0  # firmware clock when sent (lets the host estimate the offset)
    table_crc: int = 0  # CRC-32C of the encoded channel table (section 4.2)
    table_omitted: bool = False  # the host's cached table matched: channels not sent
    watchdog_tripped: bool = False  # a watchdog or link-loss stop awaits a new ENABLE
    #: 1.2: the per-channel extra block follows the table on the wire (info_flags bit 2
    #: CHANNEL_EXTRA, 4.2.1; only for a host whose HELLO asked for it)
    channel_extra: bool = False


@dataclass(frozen=True, slots=True)
class Heartbeat:
    time_us: int
    status: int = 0
    echo_seq: int = 0  # last unreliable-class seq received from the peer


@dataclass(frozen=True, slots=True)
class Ack:
    """Carries only the header's cumulative ack."""


@dataclass(frozen=True, slots=True)
class Nack:
    rejected_seq: int
    rejected_type: int
    reason: Reason


@dataclass(frozen=True, slots=True, eq=False)
class SampleBatch:
    stream_id: int
    stream_seq: int
    t0_us: int
    period_ns: int
    counts: np.ndarray = field(repr=False)  # int16, shape (n_samples, n_channels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleBatch):
            return NotImplemented
        return (
            self.stream_id == other.stream_id
            and self.stream_seq == other.stream_seq
            and self.t0_us == other.t0_us
            and self.period_ns == other.period_ns
            and self.counts.shape == other.counts.shape
            and bool(np.array_equal(self.counts, other.counts))
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Setpoints:
    deadline_us: int
    drum_speed: float  # rad/s
    cut_depth: float  # m
    enable: bool = True


@dataclass(frozen=True, slots=True)
class Command:
    code: CommandCode
    deadline_us: int
    args: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class CommandResult:
    command_seq: int
    code: int
    status: ResultStatus
    reason: Reason = Reason.NONE
    detail: str = ""


@dataclass(frozen=True, slots=True)
class EStop:
    source: int = 0  # 0 controller, 1 ground, 2 operator panel
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    time_us: int
    code: int
    severity: FirmwareSeverity
    value: float = 0.0
    text: str = ""


@dataclass(frozen=True, slots=True)
class ResetNotice:
    boot_id: int
    reason: ResetReason


@dataclass(frozen=True, slots=True)
class ParamGet:
    param_id: int


@dataclass(frozen=True, slots=True)
class ParamSet:
    param_id: int
    value: float


@dataclass(frozen=True, slots=True)
class ParamValue:
    request_seq: int
    param_id: int
    status: ParamStatus
    value: float


Message = (
    Hello
    | FirmwareInfo
    | Heartbeat
    | Ack
    | Nack
    | SampleBatch
    | Setpoints
    | Command
    | CommandResult
    | EStop
    | Event
    | ResetNotice
    | ParamGet
    | ParamSet
    | ParamValue
)

MESSAGE_TYPES: dict[type, MsgType] = {
    Hello: MsgType.HELLO,
    FirmwareInfo: MsgType.FIRMWARE_INFO,
    Heartbeat: MsgType.HEARTBEAT,
    Ack: MsgType.ACK,
    Nack: MsgType.NACK,
    SampleBatch: MsgType.SAMPLE_BATCH,
    Setpoints: MsgType.SETPOINTS,
    Command: MsgType.COMMAND,
    CommandResult: MsgType.COMMAND_RESULT,
    EStop: MsgType.ESTOP,
    Event: MsgType.EVENT,
    ResetNotice: MsgType.RESET_NOTICE,
    ParamGet: MsgType.PARAM_GET,
    ParamSet: MsgType.PARAM_SET,
    ParamValue: MsgType.PARAM_VALUE,
}
