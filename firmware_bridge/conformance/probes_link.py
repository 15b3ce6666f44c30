"""Checks that never energise the rig: handshake, messages, reliability, NACKs, garbage.

Each ``check_*`` takes a ``Harness`` with a session up and returns one
``CheckResult``; the problems it finds are listed in the detail.
"""

from __future__ import annotations

import itertools
import random
import struct

import numpy as np

from ..codec import HEADER, channel_table_crc, encode_frame
from ..framing import cobs_encode, crc32c
from ..messages import (
    PROTOCOL_VERSION,
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
    ResultStatus,
    SampleBatch,
    Setpoints,
    Status,
)
from ..params import STANDARD_PARAMS, f32
from .checks import SPEC, CheckResult, Outcome, check_spec, min_interval, within
from .harness import Harness

__all__ = ["LINK_PROBES"]

_COMMAND = struct.Struct("<QHHffff")


def _result(check_id: str, problems: list[str], ok_detail: str, measured: float | None = None,
            bound: float | None = None, unit: str = "ms") -> CheckResult:
    spec = check_spec(check_id)
    outcome = Outcome.FAIL if problems else Outcome.PASS
    return CheckResult(spec.id, spec.section, outcome, "; ".join(problems) or ok_detail,
                       measured, bound, unit)


def _late_reset_notices(h: Harness) -> list[int]:
    """boot_ids of RESET_NOTICEs sent after a FIRMWARE_INFO of the same boot: a notice is
    sent once, when the UART is up after a reset (3 step 5, 1.2), so a reset changes boot_id
    and a notice of a boot the host already saw came late or was repeated."""
    seen: set[int] = set()
    late = []
    for r in h.s.log:
        if isinstance(r.message, FirmwareInfo):
            seen.add(r.message.boot_id)
        elif isinstance(r.message, ResetNotice) and r.message.boot_id in seen:
            late.append(r.message.boot_id)
    return late


async def check_handshake_full(h: Harness) -> CheckResult:
    problems: list[str] = []
    t0 = h.now()
    if not await h.new_session():
        return _result("handshake.full", ["no FIRMWARE_INFO for this session within 2 s"], "")
    info = h.s.info
    assert info is not None
    answer = next(r for r in h.s.since(t0, FirmwareInfo)
                  if r.message.session_id == h.s.session_id)
    rtt = (answer.t - t0) * 1000
    if info.protocol_version != 1:
        problems.append(f"protocol_version {info.protocol_version}, expected 1")
    if info.table_omitted or not info.channels:
        problems.append("HELLO with table_crc 0 got no channel table")
    elif channel_table_crc(info.channels) != info.table_crc:
        problems.append(f"table_crc 0x{info.table_crc:08x} is not the CRC of the table")
    await h.port.pause(0.3)
    hbs = h.heartbeats(answer.t)
    if not hbs or any(not r.frame.flags & Flags.ACK_VALID for r in hbs):
        problems.append("no HEARTBEAT with ACK_VALID after FIRMWARE_INFO")
    elif len(hbs) >= 3:
        period = (hbs[-1].t - hbs[0].t) / (len(hbs) - 1) * 1000
        if not 0.5 * SPEC.heartbeat_ms <= period <= 1.5 * SPEC.heartbeat_ms + h.tol:
            problems.append(f"heartbeat period {period:.1f} ms, expected {SPEC.heartbeat_ms:g}")
    if h.events(EventCode.BOOT, 0.0):  # 1.2: a boot is reported by boot_id, not an event
        problems.append("EVENT(BOOT) received (1.2: not sent; boot_id reports a boot)")
    if late := _late_reset_notices(h):
        problems.append(f"RESET_NOTICE for boot_id {late[0]} after a FIRMWARE_INFO of that "
                        "boot (1.2: sent once, when the UART is up; not later, not repeated)")
    return _result("handshake.full", problems,
                   f"{info.firmware_id} {'.'.join(map(str, info.version))}, "
                   f"{len(info.channels)} channels, {len(hbs)} heartbeats in 300 ms",
                   rtt, SPEC.hello_interval_ms)


async def check_handshake_cached(h: Harness) -> CheckResult:
    problems: list[str] = []
    if h.s.table is None:
        return _result("handshake.cached", ["no channel table received yet"], "")
    crc = h.s.table[0]
    if not await h.new_session(table_crc=crc):
        return _result("handshake.cached", ["no answer to a HELLO with a cached table"], "")
    info = h.s.info
    assert info is not None
    if not info.table_omitted or info.channels or info.table_crc != crc:
        problems.append("matching table_crc did not give TABLE_OMITTED with 0 channels")
    if not await h.new_session(table_crc=crc ^ 0x5A5A5A5A):
        problems.append("no answer to a HELLO with a stale table_crc")
    elif h.s.info is None or h.s.info.table_omitted or not h.s.info.channels:
        problems.append("a stale table_crc did not give the full table")
    # a repeated HELLO of the live session is answered again and resets nothing
    first = await h.param(ParamGet(Param.WATCHDOG_MS))
    n_info = len(h.s.since(h.session_start, FirmwareInfo))
    h.s.hello(new_session=False)
    h.port.flush()
    again = await h.port.wait(
        lambda: len(h.s.since(h.session_start, FirmwareInfo)) > n_info, 0.5)
    second = await h.param(ParamGet(Param.WATCHDOG_MS))
    if not again:
        problems.append("repeated HELLO (same session id) not answered")
    if first is None or second is None:
        problems.append("the session did not survive a repeated HELLO (reliable seq reset?)")
    # 1.2: a HELLO with session id 0 is ignored, not answered (section 4.1)
    t_zero = h.now()
    h.s.send_raw(encode_frame(Hello(0, PROTOCOL_VERSION, PROTOCOL_VERSION, h.s.heartbeat_ms,
                                    h.s.watchdog_ms, 0), seq=0))
    h.port.flush()
    if await h.port.wait(lambda: bool(h.s.since(t_zero, FirmwareInfo)), 0.3):
        problems.append("a HELLO with session_id 0 was answered")
    if await h.param(ParamGet(Param.WATCHDOG_MS)) is None:
        problems.append("the session did not survive a HELLO with session_id 0")
    return _result("handshake.cached", problems, "TABLE_OMITTED on a match, full table "
                   "otherwise; repeated HELLO answered without a reset; session 0 ignored")


async def check_roundtrip(h: Harness) -> CheckResult:
    problems: list[str] = []
    t0 = h.session_start
    h.s.send(Setpoints(h.deadline_us(0.1), 0.0, 0.0, False))
    h.s.send(Nack(0, MsgType.SAMPLE_BATCH, Reason.BAD_VALUE))  # a host NACK: no reply
    h.port.flush()
    fw_only = await _firmware_only_types(h, problems)
    if await h.param(ParamGet(Param.WATCHDOG_MS)) is None:
        problems.append("PARAM_GET unanswered")
    if await h.param(ParamSet(Param.WATCHDOG_MS, h.watchdog_ms)) is None:
        problems.append("PARAM_SET unanswered")
    if await h.run(CommandCode.RESET_ESTOP) is None:
        problems.append("COMMAND got no final COMMAND_RESULT")
    t_e = h.now()
    await h.port.reliable(EStop(0, "conformance round trip"))
    if not await h.port.wait(lambda: bool(h.events(EventCode.ESTOP_LATCHED, t_e)), 0.5):
        problems.append("ESTOP gave no EVENT")
    await h.run(CommandCode.RESET_ESTOP)
    h.s.send_raw(h.s.raw_frame(0x7F, b"?", seq=h.s.tx_be))
    h.port.flush()
    await h.port.wait(lambda: bool(h.s.since(t_e, Nack)), 0.5)
    await h.port.wait(lambda: bool(h.s.since(t0, SampleBatch)), 0.5)
    seen = {r.frame.msg_type for r in h.s.since(t0)}
    # 1.2: no ACK frame is required: a piggy-backed ack is enough (section 4.4)
    wanted = {MsgType.FIRMWARE_INFO, MsgType.HEARTBEAT, MsgType.NACK,
              MsgType.SAMPLE_BATCH, MsgType.COMMAND_RESULT, MsgType.EVENT, MsgType.PARAM_VALUE}
    missing = sorted(t.name for t in wanted - seen)
    if missing:
        problems.append("never received: " + ", ".join(missing))
    if not h.s.up:
        problems.append("session lost during the round trip")
    return _result("messages.roundtrip", problems,
                   f"sent 11 types and {fw_only} firmware-only ones (ignored), received "
                   f"{len(seen)}: " + ", ".join(
                       sorted(t.name for t in seen)) + " (RESET_NOTICE needs a reboot)")


async def _firmware_only_types(h: Harness, problems: list[str]) -> int:
    """Host frames of firmware-only types: through the link, acked, then ignored (4, 1.2)."""
    t0 = h.now()
    sent = [Event(h.s.fw_time_us(t0), EventCode.STALL, FirmwareSeverity.INFO, 0.0, "host"),
            CommandResult(1, CommandCode.STOP, ResultStatus.DONE, Reason.NONE, ""),
            ParamValue(1, Param.WATCHDOG_MS, ParamStatus.OK, 250.0)]
    seqs = [await h.port.reliable(msg, timeout=0.5) for msg in sent]
    h.s.send(SampleBatch(0, 0, 0, 1_000_000, np.zeros((1, 1), dtype=np.int16)))
    h.port.flush()
    if not all(h.s.acked(seq) for seq in seqs):
        problems.append("a reliable frame of a firmware-only type was not acknowledged")
    if await h.param(ParamGet(Param.WATCHDOG_MS)) is None:
        problems.append("after firmware-only types the next reliable frame was not delivered")
    fw_types = {MsgType.EVENT, MsgType.COMMAND_RESULT, MsgType.PARAM_VALUE, MsgType.SAMPLE_BATCH}
    nacked = sorted(MsgType(r.message.rejected_type).name for r in h.s.since(t0, Nack)
                    if r.message.rejected_type in fw_types)
    if nacked:
        problems.append("NACKed host frames of firmware-only types: " + ", ".join(nacked))
    return len(sent) + 1


async def check_sequence(h: Harness) -> CheckResult:
    problems: list[str] = []
    await h.new_session()
    t0 = h.session_start
    latencies = []
    for _ in range(3):
        seq = h.s.send(ParamGet(Param.WATCHDOG_MS))
        sent = h.now()
        h.port.flush()
        if await h.port.wait(lambda seq=seq: h.s.acked(seq), 0.5):
            acked_at = next(r.t for r in h.s.since(sent) if r.frame.flags & Flags.ACK_VALID
                            and (r.frame.ack - seq) % (1 << 32) < (1 << 31))
            latencies.append((acked_at - sent) * 1000)
        else:
            problems.append(f"reliable seq {seq} never acknowledged")
        await h.param_answer(seq, 0.5)
    rel = [r.frame.seq for r in h.s.since(t0) if r.frame.reliable]
    if not rel or rel[0] != 1:
        problems.append(f"first reliable seq of the session is {rel[:1]}, expected 1")
    if any(b != a + 1 for a, b in itertools.pairwise(rel)):
        problems.append(f"reliable seqs not consecutive: {rel[:8]}")
    # FIRMWARE_INFO and RESET_NOTICE carry no flags (section 4)
    after = [r for r in h.s.since(t0)
             if r.frame.msg_type not in (MsgType.FIRMWARE_INFO, MsgType.RESET_NOTICE)]
    if any(not r.frame.flags & Flags.ACK_VALID for r in after):
        problems.append("a frame after the handshake lacks ACK_VALID")
    worst = max(latencies) if latencies else None
    if worst is not None and not within(worst, SPEC.ack_delay_ms, h.tol):
        problems.append(f"acknowledgement after {worst:.1f} ms (ACK_DELAY {SPEC.ack_delay_ms:g})")
    return _result("reliable.sequence", problems,
                   f"reliable seqs {rel[:4]}..., every frame ACK_VALID", worst,
                   SPEC.ack_delay_ms)


async def check_retransmission(h: Harness) -> CheckResult:
    problems: list[str] = []
    h.s.auto_ack = False
    h.s.ack_override = h.s.ack_field()
    t0 = h.now()
    await h.port.reliable(ParamGet(Param.WATCHDOG_MS))

    def copies() -> list:
        return [r for r in h.s.since(t0, ParamValue)]

    limit = (SPEC.max_retransmissions + 3) * SPEC.retransmit_ms / 1000 + 0.3
    await h.port.wait(lambda: len(copies()) > SPEC.max_retransmissions + 1, limit)
    await h.port.pause(0.3)
    got = copies()
    h.s.auto_ack, h.s.ack_override = True, None
    if len(got) < 2:
        return _result("reliable.retransmission", ["unacknowledged PARAM_VALUE never resent"],
                       "")
    first, again = got[0], got[1:]
    if any(r.frame.seq != first.frame.seq or r.message != first.message for r in again):
        problems.append("a retransmission changed its seq or payload")
    if any(not r.frame.flags & Flags.RETRANSMIT for r in again):
        problems.append("a retransmission lacks the RETRANSMIT flag")
    ours = (h.s.tx_rel - 1) % (1 << 32)  # the last reliable frame we sent: acked by now
    if any(not r.frame.flags & Flags.ACK_VALID or r.frame.ack != ours for r in again):
        problems.append("a retransmission does not carry the current ack")
    gap = (again[0].t - first.t) * 1000
    if gap < SPEC.retransmit_ms - h.tol:
        problems.append(f"first retransmission after {gap:.0f} ms, before the timeout")
    if len(again) != SPEC.max_retransmissions:
        problems.append(f"{len(again)} retransmissions before giving up, expected "
                        f"{SPEC.max_retransmissions}")
    await h.new_session()
    return _result("reliable.retransmission", problems,
                   f"{len(again)} retransmissions, same seq and bytes, then link lost",
                   gap, SPEC.retransmit_ms)


async def check_duplicates(h: Harness) -> CheckResult:
    problems: list[str] = []
    msg = ParamGet(Param.WATCHDOG_MS)
    seq, data = h.s.encode(msg)
    h.s.send_raw(data)
    h.port.flush()
    await h.param_answer(seq, 0.5)
    t_dup = h.now()
    for _ in range(2):
        h.s.send_raw(h.s.encode(msg, seq=seq, flags=Flags.RETRANSMIT)[1])
    h.port.flush()
    reacked = await h.port.wait(lambda: any(
        r.frame.flags & Flags.ACK_VALID and r.frame.ack == seq for r in h.s.since(t_dup)), 0.3)
    await h.port.pause(0.15)
    answers = [r for r in h.s.since(h.session_start, ParamValue) if r.message.request_seq == seq]
    if len(answers) != 1:
        problems.append(f"PARAM_GET run {len(answers)} times after duplicates")
    if not reacked:
        problems.append("duplicate not re-acknowledged")
    cseq, cdata = h.s.encode(h.command_msg(CommandCode.RESET_ESTOP))
    h.s.send_raw(cdata + h.s.encode(h.command_msg(CommandCode.RESET_ESTOP), seq=cseq,
                                    flags=Flags.RETRANSMIT)[1])
    h.port.flush()
    await h.final_result(cseq, 0.5)
    await h.port.pause(0.15)
    statuses = [r.status for r in h.results(cseq)]
    if statuses.count(ResultStatus.ACCEPTED) != 1:
        problems.append(f"duplicated COMMAND answered {statuses}")
    skipped = h.s.tx_rel
    later, ldata = h.s.encode(msg, seq=(skipped + 1) % (1 << 32) or 1)
    h.s.send_raw(ldata)
    h.port.flush()
    if await h.param_answer(later, 0.15) is not None:
        problems.append("a frame after a sequence gap was delivered")
    h.s.tx_rel = skipped
    gap_fill = await h.port.reliable(msg)
    resent = await h.port.reliable(msg)
    if await h.param_answer(gap_fill) is None or await h.param_answer(resent) is None:
        problems.append("frames after the gap not delivered once it was filled")
    return _result("reliable.duplicates", problems,
                   "duplicates re-acked and not re-run; a frame after a gap dropped")


async def check_expiry(h: Harness) -> CheckResult:
    problems: list[str] = []
    seq = await h.port.reliable(h.command_msg(CommandCode.STOP, ttl=-0.1))
    final = await h.final_result(seq)
    statuses = [r.status for r in h.results(seq)]
    if final is None or final.status is not ResultStatus.REJECTED \
            or final.reason is not Reason.EXPIRED:
        problems.append(f"expired STOP answered {final}")
    if ResultStatus.ACCEPTED in statuses:
        problems.append("expired command was accepted")
    ok = await h.run(CommandCode.STOP)
    if ok is None or ok.status is not ResultStatus.DONE:
        problems.append(f"a STOP within its deadline answered {ok}")
    return _result("commands.expiry", problems, "REJECTED(EXPIRED) 100 ms after the deadline")


async def check_params(h: Harness) -> CheckResult:
    problems: list[str] = []
    info = h.s.info
    values: dict[int, float] = {}
    for pid, spec in STANDARD_PARAMS.items():
        pv = await h.param(ParamGet(pid))
        if pv is None or pv.status is not ParamStatus.OK:
            problems.append(f"GET {pid} ({spec.param_id.name}): {pv and pv.status.name}")
            continue
        values[pid] = pv.value
        if spec.writable and not f32(spec.lo) <= pv.value <= f32(spec.hi):
            problems.append(f"{spec.param_id.name} = {pv.value} outside its range")
    if info is not None and values.get(Param.SAMPLE_RATE_HZ) not in (None, info.sample_rate_hz):
        problems.append("SAMPLE_RATE_HZ differs from FIRMWARE_INFO")
    cases = [(Param.SAMPLE_RATE_HZ, 7.0, ParamStatus.READ_ONLY),
             (Param.DRUM_CURRENT_LIMIT_A, -1.0, ParamStatus.OUT_OF_RANGE),
             (Param.DRUM_CURRENT_LIMIT_A, 1e6, ParamStatus.OUT_OF_RANGE),
             (Param.DRUM_CURRENT_LIMIT_A, float("nan"), ParamStatus.OUT_OF_RANGE),
             (0x0FFF, 1.0, ParamStatus.UNKNOWN_PARAM)]
    arm = STANDARD_PARAMS[Param.ARM_RATE_LIMIT_M_S]
    cases += [(Param.ARM_RATE_LIMIT_M_S, arm.hi, ParamStatus.OK),
              (Param.ARM_RATE_LIMIT_M_S, arm.lo, ParamStatus.OK)]
    for pid, value, want in cases:
        pv = await h.param(ParamSet(pid, value))
        if pv is None or pv.status is not want:
            problems.append(f"SET {pid}={value}: {pv and pv.status.name}, expected {want.name}")
        elif want is not ParamStatus.OK and pid in values and pv.value != values[pid]:
            problems.append(f"refused SET {pid} changed the value to {pv.value}")
    pv = await h.param(ParamSet(Param.WATCHDOG_MS, h.watchdog_ms + 0.4))
    if pv is None or pv.value != h.watchdog_ms:
        problems.append(f"WATCHDOG_MS {h.watchdog_ms + 0.4} not rounded: {pv}")
    # 1.2: range check first, then round half away from zero (section 4.13)
    wd = STANDARD_PARAMS[Param.WATCHDOG_MS]
    pv = await h.param(ParamSet(Param.WATCHDOG_MS, wd.lo - 0.4))
    if pv is None or pv.status is not ParamStatus.OUT_OF_RANGE:
        problems.append(f"WATCHDOG_MS {wd.lo - 0.4:g} (rounds into range): "
                        f"{pv and pv.status.name}, expected OUT_OF_RANGE")
    pv = await h.param(ParamSet(Param.WATCHDOG_MS, h.watchdog_ms + 0.5))
    if pv is None or pv.value != h.watchdog_ms + 1:
        problems.append(f"WATCHDOG_MS {h.watchdog_ms + 0.5:g} not rounded half away from zero: "
                        f"{pv and pv.value}")
    await h.param(ParamSet(Param.WATCHDOG_MS, h.watchdog_ms))
    if Param.ARM_RATE_LIMIT_M_S in values:
        await h.param(ParamSet(Param.ARM_RATE_LIMIT_M_S, values[Param.ARM_RATE_LIMIT_M_S]))
    return _result("params", problems,
                   f"{len(values)} standard parameters; float32 bounds {arm.lo:g}/{arm.hi:g} "
                   "accepted; read-only, range, NaN and unknown refused")


async def check_nack_codes(h: Harness) -> CheckResult:
    problems: list[str] = []
    t0 = h.now()
    short_seq = h.s.tx_rel
    h.s.tx_rel += 1
    h.s.send_raw(h.s.raw_frame(MsgType.COMMAND, b"\x01\x02", seq=short_seq,
                               flags=Flags.RELIABLE | Flags.ACK_VALID, ack=h.s.ack_field()))
    bad_seq = h.s.tx_rel
    h.s.tx_rel += 1
    cmd_payload = _command_payload(h, code=99)  # a code the protocol does not define
    h.s.send_raw(h.s.raw_frame(MsgType.COMMAND, cmd_payload, seq=bad_seq,
                               flags=Flags.RELIABLE | Flags.ACK_VALID, ack=h.s.ack_field()))
    vendor_seq = h.s.tx_rel
    h.s.tx_rel += 1
    h.s.send_raw(h.s.raw_frame(MsgType.COMMAND, _command_payload(h, code=0x1234), seq=vendor_seq,
                               flags=Flags.RELIABLE | Flags.ACK_VALID, ack=h.s.ack_field()))
    v2_seq = h.s.tx_rel  # 1.2: a reliable frame of header version 2 in a session
    h.s.tx_rel += 1
    h.s.send_raw(h.s.raw_frame(MsgType.PARAM_GET, b"\x01\x00\x00\x00", seq=v2_seq, version=2,
                               flags=Flags.RELIABLE | Flags.ACK_VALID, ack=h.s.ack_field()))
    h.s.send_raw(h.s.raw_frame(0x7F, b"x", seq=h.s.tx_be))
    h.s.hello(new_session=False, proto=(2, 3))
    h.port.flush()
    want = {(short_seq, MsgType.COMMAND, Reason.BAD_LENGTH),
            (bad_seq, MsgType.COMMAND, Reason.BAD_VALUE),
            (vendor_seq, MsgType.COMMAND, Reason.UNKNOWN_COMMAND),
            (v2_seq, MsgType.PARAM_GET, Reason.UNSUPPORTED_VERSION),
            (None, 0x7F, Reason.UNKNOWN_TYPE), (0, MsgType.HELLO, Reason.UNSUPPORTED_VERSION)}

    def got() -> set:
        return {(n.rejected_seq if n.rejected_type != 0x7F else None, n.rejected_type, n.reason)
                for n in (r.message for r in h.s.since(t0, Nack))}

    await h.port.wait(lambda: want <= got(), 0.6)
    for item in sorted(want - got(), key=str):
        problems.append(f"no NACK({item[2].name}) for type 0x{item[1]:02x} seq {item[0]}")
    if any(r.message.command_seq in (bad_seq, vendor_seq) for r in h.s.since(t0, CommandResult)):
        problems.append("an unknown command got a COMMAND_RESULT instead of only a NACK")
    if any(r.message.request_seq == v2_seq for r in h.s.since(t0, ParamValue)):
        problems.append("a frame of header version 2 was executed")
    after = await h.param(ParamGet(Param.WATCHDOG_MS))
    if after is None:
        problems.append("the NACKed sequence numbers were not consumed (next frame stuck)")
    if not h.s.up:
        problems.append("session lost")
    return _result("nack.codes", problems, "BAD_LENGTH, BAD_VALUE, UNKNOWN_COMMAND, UNKNOWN_TYPE, "
                   "UNSUPPORTED_VERSION (HELLO and header); rejected seqs consumed")


def _command_payload(h: Harness, code: int) -> bytes:
    return _COMMAND.pack(h.deadline_us(0.5), code, 0, 0.0, 0.0, 0.0, 0.0)


async def check_nack_rate(h: Harness) -> CheckResult:
    problems: list[str] = []
    h.port.silent = True  # the firmware must declare the link lost: no session afterwards
    await h.port.pause(h.watchdog_ms / 1000 * 1.5 + 0.1)
    h.port.heartbeats = False
    h.port.silent = False
    t0 = h.now()
    for i in range(120):  # a frame every 5 ms for 0.6 s, reliable and SETPOINTS mixed
        if i % 2:
            h.s.send_raw(h.s.raw_frame(MsgType.SETPOINTS, bytes(20), seq=5000 + i))
        else:
            h.s.send_raw(encode_frame(ParamGet(Param.WATCHDOG_MS), seq=9000 + i))
        if i % 10 == 5:  # 1.2: a best-effort HEARTBEAT is never answered before a session
            h.s.send_raw(encode_frame(Heartbeat(int(h.now() * 1e6), 0, 0), seq=7000 + i))
        h.port.flush()
        await h.port.pause(0.005)
    await h.port.pause(0.1)
    nacks = [r for r in h.s.since(t0, Nack) if r.message.reason is Reason.NOT_HANDSHAKEN]
    spent = (h.now() - t0) * 1000
    gap = min_interval([r.t * 1000 for r in nacks])
    if not nacks:
        problems.append("no NACK(NOT_HANDSHAKEN) without a session")
    elif len(nacks) > spent / SPEC.nack_interval_ms + 2:
        problems.append(f"{len(nacks)} NACKs in {spent:.0f} ms")
    if gap is not None and gap < SPEC.nack_interval_ms - h.tol:
        problems.append(f"NACKs {gap:.1f} ms apart")
    if h.s.since(t0, ParamValue):
        problems.append("a PARAM_GET was answered without a session")
    if any(r.message.rejected_type == MsgType.HEARTBEAT for r in h.s.since(t0, Nack)):
        problems.append("a HEARTBEAT was NACKed without a session (only RELIABLE frames and "
                        "SETPOINTS are)")
    await h.new_session()
    return _result("nack.rate_limit", problems, f"{len(nacks)} NACKs for 120 frames in "
                   f"{spent:.0f} ms", gap, SPEC.nack_interval_ms)


async def check_garbage(h: Harness) -> CheckResult:
    problems: list[str] = []
    t0 = h.now()
    rng = random.Random(1)
    noise = bytes(rng.choice((0, rng.randrange(1, 256), rng.randrange(1, 256)))
                  for _ in range(3000))
    good = encode_frame(ParamGet(Param.WATCHDOG_MS), seq=h.s.tx_rel,
                        flags=Flags.ACK_VALID, ack=h.s.ack_field())
    h.s.send_raw(noise + b"\x00\x00\x00" + good[: len(good) // 2] + b"\x00"
                 + b"\x55" * 5000 + b"\x00" + b"\x05\x01\x00")
    seq = h.s.tx_rel
    body = HEADER.pack(1, MsgType.ESTOP, Flags.RELIABLE | Flags.ACK_VALID, 0, seq,
                       h.s.ack_field()) + b"\x00\x00\x00\x00\x0bconformance"
    body += crc32c(body).to_bytes(4, "little")
    flips = 0
    for bit in range(0, len(body) * 8, 5):
        bad = bytearray(body)
        bad[bit // 8] ^= 1 << (bit % 8)
        h.s.send_raw(cobs_encode(bytes(bad)) + b"\x00")
        flips += 1
    h.port.flush()
    await h.port.pause(0.3)
    if h.events(EventCode.ESTOP_LATCHED, t0):
        problems.append("a bit-flipped ESTOP latched the e-stop")
    if any(r.message.status & Status.ESTOP for r in h.heartbeats(t0 + 0.05)):
        problems.append("heartbeat shows the e-stop latched")
    if h.s.since(t0, Nack) or h.s.since(t0, ParamValue):
        problems.append("answered a corrupted frame (NACK or PARAM_VALUE)")
    if h.s.acked(seq) and h.s.peer_ack == seq:
        problems.append("acknowledged a corrupted reliable frame")
    if h.s.since(t0, FirmwareInfo) or not h.s.up:
        problems.append("session disturbed by garbage")
    if await h.param(ParamGet(Param.WATCHDOG_MS)) is None:
        problems.append("no answer to a valid frame after the garbage")
    if h.events(EventCode.ESTOP_LATCHED, t0):
        await h.run(CommandCode.RESET_ESTOP)
    return _result("robustness.garbage", problems,
                   f"3 kB noise, truncated, oversize, bad COBS, {flips} bit flips: no action")


LINK_PROBES = {
    "handshake.full": check_handshake_full,
    "handshake.cached": check_handshake_cached,
    "messages.roundtrip": check_roundtrip,
    "reliable.sequence": check_sequence,
    "reliable.retransmission": check_retransmission,
    "reliable.duplicates": check_duplicates,
    "commands.expiry": check_expiry,
    "params": check_params,
    "nack.codes": check_nack_codes,
    "nack.rate_limit": check_nack_rate,
    "robustness.garbage": check_garbage,
}
