"""Start the rig simulator as a child process and wait for its ``READY <url>`` line.

    async with SimulatorProcess(["--pty", "--link", path, "--time-scale", "5"]) as sim:
        url = sim.url

The child is ``python -m sim_hw ...`` with the same interpreter. Start-up has
an explicit deadline; on exit the child gets SIGTERM, then SIGKILL if it has
not exited within ``stop_timeout``. ``kill()`` is SIGKILL at once (tests use
it to play a crashed process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from ..core.errors import ControlError

log = logging.getLogger(__name__)


class SimulatorError(ControlError):
    """The simulator did not start (or said something other than READY)."""


class SimulatorProcess:
    def __init__(self, args: Sequence[str], *, start_timeout: float = 15.0,
                 stop_timeout: float = 5.0, stderr: int | None = None) -> None:
        self.args = [sys.executable, "-m", "sim_hw", *args]
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.stderr = stderr
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self._drain: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SimulatorProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=self.stderr)
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(self.start_timeout):
                while True:
                    line = (await self.proc.stdout.readline()).decode(errors="replace").strip()
                    if not line:
                        if self.proc.stdout.at_eof():
                            raise SimulatorError(
                                f"simulator exited before READY (code {await self.proc.wait()})")
                        continue
                    if line.startswith("READY "):
                        self.url = line.split(None, 1)[1]
                        break
                    log.debug("sim: %s", line)
        except TimeoutError:
            await self.aclose()
            raise SimulatorError(f"simulator not READY within {self.start_timeout} s") from None
        except BaseException:
            await self.aclose()
            raise
        self._drain = asyncio.create_task(self._drain_stdout(), name="sim-stdout")
        return self

    async def _drain_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            log.debug("sim: %s", line.decode(errors="replace").rstrip())

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    async def aclose(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(self.stop_timeout):
                    await proc.wait()
            except TimeoutError:
                log.warning("simulator ignored SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
        self.proc = None
