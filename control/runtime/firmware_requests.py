"""Sends the core's firmware requests in order and reports each result back as a notice.

``FirmwareRequests.run(tg)`` (the ``firmware-commands`` task) takes the
``FirmwareRequest``s the control step queued, one at a time, and awaits the
firmware's ACCEPTED; motion commands (drive, stow, dump) complete on the
firmware's DONE, in their own task, so they never block the queue. Each result
comes back to the core as ``RequestFinished`` through ``notify``. E-stops skip
the queue (``start_estop``). At shutdown the app cancels ``run`` (nothing queued
is sent any more) and ``cancel_in_flight``, then ``stop_rig`` leaves the rig
stopped: STOP (category 1), then ENABLE 0, best effort, the last two commands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from firmware_bridge.bridge import Bridge
from firmware_bridge.errors import BridgeError, CommandRejectedError
from firmware_bridge.messages import CommandCode, ResultStatus

from ..core.config import LinkTimingConfig
from ..core.step_messages import EstopRequest, FirmwareRequest, Notice, RequestFinished

log = logging.getLogger(__name__)

__all__ = ["FirmwareRequests"]


class FirmwareRequests:
    def __init__(self, bridge: Bridge, config: LinkTimingConfig,
                 notify: Callable[[Notice], None]) -> None:
        self.bridge = bridge
        self.config = config
        self.notify = notify
        self._queue: asyncio.Queue[FirmwareRequest] = asyncio.Queue()
        self._in_flight: set[asyncio.Task[None]] = set()  # motion commands and e-stops

    def put(self, req: FirmwareRequest) -> None:
        self._queue.put_nowait(req)

    def clear(self) -> None:
        """Forget what is queued (the link went down: the core re-plans after it)."""
        while not self._queue.empty():
            self._queue.get_nowait()

    async def run(self, tg: asyncio.TaskGroup) -> None:
        while True:
            req = await self._queue.get()
            if req.waits_for_done:
                self._keep(tg.create_task(self._send(req, ResultStatus.DONE),
                                          name=f"motion-{req.code.name}"))
                await asyncio.sleep(0)  # let it send before anything queued after it
                continue
            await self._send(req, ResultStatus.ACCEPTED)

    async def _send(self, req: FirmwareRequest, until: ResultStatus) -> None:
        cfg = self.config
        timeout = cfg.motion_timeout_wall_s if until is ResultStatus.DONE \
            else cfg.command_timeout_wall_s
        try:
            await self.bridge.command(req.code, req.args, ttl=cfg.command_ttl_wall_s,
                                      until=until, timeout=timeout)
            self.notify(RequestFinished(req.request_id, True))
        except BridgeError as err:
            self.notify(RequestFinished(req.request_id, False, _reason(err)))

    def start_estop(self, tg: asyncio.TaskGroup, req: EstopRequest) -> None:
        """Send an e-stop now, in its own task (it skips the queue)."""
        self._keep(tg.create_task(self.estop(req), name="estop"))

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def cancel_in_flight(self) -> None:
        """Shutdown: stop waiting for motion DONEs and e-stop answers (``stop_rig``
        then stops the rig itself); the task group awaits the cancelled tasks."""
        for task in self._in_flight:
            task.cancel()

    async def estop(self, req: EstopRequest) -> None:
        try:
            await self.bridge.estop(req.reason[:200])
        except BridgeError as err:
            # the firmware watchdog stops the motors without us; the core re-asserts
            # the e-stop on the next handshake
            log.error("e-stop not delivered (%s): %s", req.reason, err)

    async def stop_rig(self) -> None:
        """Leave the rig stopped: STOP (category 1) and disable, best effort."""
        if not self.bridge.is_up:
            return
        for code, args in ((CommandCode.STOP, ()), (CommandCode.ENABLE, (0.0,))):
            try:
                await self.bridge.command(code, args, ttl=self.config.command_ttl_wall_s,
                                          timeout=self.config.command_timeout_wall_s)
            except BridgeError as err:
                log.warning("shutdown %s: %s", code.name, err)


def _reason(err: Exception) -> str:
    if isinstance(err, CommandRejectedError) and err.reason:
        return f"{err.reason}: {err}"
    return str(err) or type(err).__name__
