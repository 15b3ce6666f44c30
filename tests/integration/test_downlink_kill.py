"""Rover process SIGKILLed mid-stream and restarted: nothing stored is lost."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from telemetry.contract import parse_topic
from telemetry.contract.payloads import StatusMessage
from tests.integration.downlink_helpers import collecting, wait_until

ROVER = Path(__file__).with_name("rover_publisher.py")


class Rover:
    def __init__(self, url: str, outbox: Path) -> None:
        self.url, self.outbox = url, outbox
        self.stored: list[tuple[str, int, int]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROVER), self.url, str(self.outbox),
            stdout=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read(), name="rover-stdout")

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        async for line in self.proc.stdout:
            parts = line.decode().split()
            if len(parts) == 4 and parts[0] == "stored":  # a torn last line is not a receipt
                self.stored.append((parts[1], int(parts[2]), int(parts[3])))

    async def kill(self) -> None:
        assert self.proc and self._reader
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._reader


async def test_sigkill_loses_no_stored_message_and_never_reuses_numbers(
        mosquitto, tmp_path: Path) -> None:
    outbox = tmp_path / "rover.db"
    async with collecting(mosquitto.url, "regolith/rover/#") as got:
        rover = Rover(mosquitto.url, outbox)
        await rover.start()
        await wait_until(lambda: len(rover.stored) >= 600, 20, "rover traffic")
        await rover.kill()
        first_run = list(rover.stored)
        # The broker publishes the last will: the rig is offline.
        await wait_until(lambda: any(isinstance(m, StatusMessage) and not m.online
                                     for _, m in got.received), 10, "last will")
        assert not any(isinstance(m, StatusMessage) and m.shutdown for _, m in got.received)
        await rover.start()
        await wait_until(lambda: len(rover.stored) >= len(first_run) + 300, 20, "second run")
        await rover.kill()

        def received() -> set[tuple[str, int]]:
            return {(parse_topic("regolith", t).stream, m.envelope.seq)
                    for t, m in got.received if not isinstance(m, StatusMessage)}

        # Run a third time only to drain what the second kill left behind.
        await rover.start()
        expected = {(s, q) for s, q, _ in rover.stored}
        await wait_until(lambda: expected <= received(), 20, "every stored message")
        await rover.kill()
    second_run = rover.stored[len(first_run):]
    assert {b for _, _, b in first_run} == {1} and {b for _, _, b in second_run} >= {2}
    # Numbers continue across the restart: nothing reused. (A message stored just before
    # the kill may have no printed receipt, so the next run may start one or more higher.)
    got_seqs = received()
    for stream in ("state", "batch/imu", "ack", "event"):
        before = [q for s, q, _ in first_run if s == stream]
        after = [q for s, q, _ in second_run if s == stream]
        assert before == list(range(len(before)))
        assert after[0] > before[-1]
        # ...and even those unreceipted ones reached the ground: no hole anywhere.
        top = max(q for s, q in expected if s == stream)  # runs 1 and 2
        assert {q for s, q in got_seqs if s == stream} >= set(range(top + 1))
    # Every duplicate the ground saw was flagged as a resend.
    seen: set[tuple[str, int]] = set()
    for topic, m in got.received:
        if isinstance(m, StatusMessage):
            continue
        key = (parse_topic("regolith", topic).stream, m.envelope.seq)
        if key in seen:
            assert m.envelope.resend, f"{key} duplicated without the resend flag"
        seen.add(key)
