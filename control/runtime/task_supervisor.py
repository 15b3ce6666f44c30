"""Keeps the controller's non-safety tasks alive: a failure is logged, raised as an
event and the task restarted with backoff.

Theory of operation
-------------------
The control loop and the firmware tasks are the rig's safety: if one of them
fails, the process must end (the firmware's watchdog stops the motors, systemd
restarts the service). Everything else (ground commands, telemetry publishing)
is a convenience the rig can lose for a moment. ``supervise`` runs such a task
body again and again: an exception out of it is logged with its traceback,
reported through ``on_failure`` (the app turns it into a ``task_restarted``
alarm event) and the body is started again after a capped, jittered delay
(``rig_common.Backoff``). A body that ran longer than the backoff's cap before
failing counts as healthy again (the delay starts from the beginning).
Cancellation always passes through; a body that returns ends supervision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from rig_common.backoff import Backoff

log = logging.getLogger(__name__)

__all__ = ["FailureHook", "supervise"]

#: ``on_failure(task_name, error, restart_delay_s)``
FailureHook = Callable[[str, BaseException, float], None]


async def supervise(name: str, body: Callable[[], Awaitable[None]], on_failure: FailureHook,
                    *, backoff: Backoff | None = None) -> None:
    """Run ``body()`` until it returns, restarting it after each failure."""
    backoff = backoff or Backoff(0.2, 10.0)
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await body()
            return
        except asyncio.CancelledError:
            raise
        except Exception as err:  # any failure of a non-safety task: restart it
            if loop.time() - started > backoff.cap:
                backoff.reset()
            delay = backoff.next_delay()
            log.error("task %s failed, restarting in %.2f s: %r", name, delay, err,
                      exc_info=err)
            try:
                on_failure(name, err, delay)
            except Exception:  # the report must not stop the restart
                log.exception("reporting the failure of task %s failed", name)
            await asyncio.sleep(delay)
