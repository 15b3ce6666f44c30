"""What every check procedure needs: the run's settings and small host-side helpers.

``Harness`` wraps a ``HarnessPort``: commands and parameter requests with
their answers, the latest firmware status, the drum-speed column of the
sample stream (when the firmware announces a ``drum_speed`` channel), and
``tidy()``, which puts the rig back into a known state between checks (a
session up, overrides cleared, e-stop reset, motors disabled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..messages import (
    Command,
    CommandCode,
    CommandResult,
    Event,
    Heartbeat,
    Message,
    ParamGet,
    ParamSet,
    ParamValue,
    ResultStatus,
    SampleBatch,
    Setpoints,
)
from .checks import SPEC
from .host import HarnessPort, Received

__all__ = ["Harness", "RunConfig", "standstill_from_samples"]


@dataclass(frozen=True, slots=True)
class RunConfig:
    url: str
    baudrate: int = 3_000_000
    allow_motion: bool = False
    only: tuple[str, ...] = ()
    watchdog_ms: int = 250  # asked for in HELLO
    tolerance_ms: float = 20.0  # host-side measurement tolerance on timing bounds
    dig_speed: float = 3.0  # rad/s for the standstill check
    cut_depth: float = -0.30  # m; negative = arm raised, nothing is dug
    spinup_s: float = 5.0  # longest wait for the drum to reach dig speed


class Harness:
    def __init__(self, port: HarnessPort, config: RunConfig) -> None:
        self.port = port
        self.s = port.s
        self.config = config
        self.setpoints: tuple[float, float] | None = None  # streamed with the heartbeats
        self.session_start = 0.0  # local time the current session's HELLO went out
        port.extra = self._stream_setpoints

    @property
    def watchdog_ms(self) -> float:
        return float(self.config.watchdog_ms)

    @property
    def tol(self) -> float:
        return self.config.tolerance_ms

    def now(self) -> float:
        return self.port.now()

    # --- requests ------------------------------------------------------------------
    def deadline_us(self, ttl_s: float) -> int:
        return self.s.fw_time_us(self.now()) + int(ttl_s * 1e6)

    def command_msg(self, code: CommandCode, *args: float, ttl: float = 0.5) -> Command:
        padded = (*(float(a) for a in args), 0.0, 0.0, 0.0, 0.0)[:4]
        return Command(code, self.deadline_us(ttl), padded)  # type: ignore[arg-type]

    async def command(self, code: CommandCode, *args: float, ttl: float = 0.5) -> int:
        return await self.port.reliable(self.command_msg(code, *args, ttl=ttl))

    def results(self, seq: int) -> list[CommandResult]:
        return [r.message for r in self.s.log if isinstance(r.message, CommandResult)
                and r.message.command_seq == seq and r.t >= self.session_start]

    async def final_result(self, seq: int, timeout: float = 1.0) -> CommandResult | None:
        """The REJECTED / FAILED / DONE result of command *seq*, or None."""
        final = (ResultStatus.REJECTED, ResultStatus.FAILED, ResultStatus.DONE)
        await self.port.wait(lambda: any(r.status in final for r in self.results(seq)), timeout)
        done = [r for r in self.results(seq) if r.status in final]
        return done[0] if done else None

    async def run(self, code: CommandCode, *args: float, timeout: float = 1.0
                  ) -> CommandResult | None:
        return await self.final_result(await self.command(code, *args), timeout)

    async def param(self, msg: ParamGet | ParamSet, timeout: float = 1.0) -> ParamValue | None:
        seq = await self.port.reliable(msg)
        return await self.param_answer(seq, timeout)

    async def param_answer(self, seq: int, timeout: float = 1.0) -> ParamValue | None:
        def answers() -> list[ParamValue]:
            return [r.message for r in self.s.log if isinstance(r.message, ParamValue)
                    and r.message.request_seq == seq and r.t >= self.session_start]
        await self.port.wait(lambda: bool(answers()), timeout)
        got = answers()
        return got[0] if got else None

    async def new_session(self, *, table_crc: int = 0) -> bool:
        t0 = self.now()
        ok = await self.port.handshake(table_crc=table_crc)
        if ok:
            self.session_start = t0
        return ok

    # --- what the firmware says ------------------------------------------------------
    def events(self, code: int, since: float) -> list[Received]:
        return [r for r in self.s.since(since, Event) if r.message.code == code]

    def heartbeats(self, since: float) -> list[Received]:
        return self.s.since(since, Heartbeat)

    async def heartbeat_where(self, pred: object, since: float, timeout: float
                              ) -> Received | None:
        def found() -> Received | None:
            for r in self.heartbeats(since):
                if pred(r.message.status):  # type: ignore[operator]
                    return r
            return None
        await self.port.wait(lambda: found() is not None, timeout)
        return found()

    def drum_column(self) -> tuple[int, float, float] | None:
        """(column in stream 0, scale, offset) of a channel named drum_speed, if announced."""
        info = self.s.info
        if info is None:
            return None
        stream0 = sorted((c for c in info.channels if c.stream_id == 0),
                         key=lambda c: c.channel_id)
        for col, ch in enumerate(stream0):
            if ch.name == "drum_speed":
                return col, ch.scale, ch.offset
        return None

    def drum_samples(self, since: float) -> list[tuple[float, float]]:
        """(firmware sample time s, drum speed rad/s) from stream 0 batches received since."""
        col = self.drum_column()
        if col is None:
            return []
        c, scale, offset = col
        out = []
        for r in self.s.since(since, SampleBatch):
            b = r.message
            if b.stream_id != 0 or b.counts.shape[1] <= c:
                continue
            for i, count in enumerate(b.counts[:, c].tolist()):
                out.append(((b.t0_us + i * b.period_ns / 1000) / 1e6, offset + scale * count))
        return out

    async def wait_drum_speed(self, speed: float, since: float, timeout: float) -> bool:
        if self.drum_column() is None:
            await self.port.pause(min(timeout, 1.0))
            return True
        return await self.port.wait(
            lambda: any(abs(w) >= speed for _, w in self.drum_samples(since)[-20:]), timeout)

    def _stream_setpoints(self) -> list[Message]:
        if self.setpoints is None:
            return []
        speed, depth = self.setpoints
        return [Setpoints(self.deadline_us(0.2), speed, depth, True)]

    # --- between checks ----------------------------------------------------------------
    async def tidy(self) -> None:
        port, s = self.port, self.s
        self.setpoints = None
        port.silent = False
        s.auto_ack = True
        s.ack_override = s.echo_override = None
        if not s.up or port.closed:
            await self.new_session()
        if not s.up:
            return
        await self.run(CommandCode.RESET_ESTOP)
        if self.config.allow_motion:
            await self.run(CommandCode.ENABLE, 0.0)


def standstill_from_samples(samples: list[tuple[float, float]], speed: float
                            ) -> float | None:
    """Braking time (ms) seen in the sample stream: last sample at >= 90 % of *speed*
    to the first later sample below the standstill speed; None if not seen."""
    last_fast = None
    for i, (_t, w) in enumerate(samples):
        if abs(w) >= 0.9 * speed:
            last_fast = i
    if last_fast is None:
        return None
    for t, w in samples[last_fast + 1:]:
        if abs(w) < SPEC.standstill_speed:
            return (t - samples[last_fast][0]) * 1000
    return math.inf
