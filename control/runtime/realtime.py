"""Real-time scheduling for the control loop's thread, where the OS permits it.

On a loaded board the control loop's lateness is mostly the time the kernel
takes to run it again after its timer fires, behind every other runnable task;
no amount of work saved inside the loop helps with that. ``enter_realtime(priority)``
puts the calling thread (the one running the asyncio loop: the control loop,
the bridge I/O and the filters) under ``SCHED_FIFO`` at *priority* and returns
the call that restores the previous policy (``RigController.run`` makes both). Child
processes started meanwhile (the simulator, say) do not inherit it
(``SCHED_RESET_ON_FORK``), and the kernel's real-time throttling
(``sched_rt_runtime_us``) still leaves the rest of the machine its share.

Priority 0 leaves scheduling alone. Where the OS refuses (no ``CAP_SYS_NICE``,
no ``RLIMIT_RTPRIO``, not Linux) the loop runs with normal scheduling and a
warning says so: the rig still works, with the timing of a normal process.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["enter_realtime"]


def _nothing() -> None:
    return None


def enter_realtime(priority: int) -> Callable[[], None]:
    """Put the calling thread under ``SCHED_FIFO`` at *priority* (1-99) if permitted;
    returns the call that restores its previous scheduling (a no-op if nothing changed)."""
    setsched = getattr(os, "sched_setscheduler", None)
    if priority <= 0 or setsched is None:
        return _nothing
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        setsched(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except OSError as err:
        log.warning("control loop keeps normal scheduling: SCHED_FIFO priority %d refused "
                    "(%s)", priority, err)
        return _nothing
    log.info("control loop runs under SCHED_FIFO priority %d", priority)

    def restore() -> None:
        with contextlib.suppress(OSError):
            setsched(0, policy & ~os.SCHED_RESET_ON_FORK, param)

    return restore
