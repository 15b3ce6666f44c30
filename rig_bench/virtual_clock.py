"""An asyncio event loop whose clock is simulated time: lockstep runs of the real service.

``VirtualClockLoop`` is a plain ``SelectorEventLoop`` with two changes:

* ``time()`` returns simulated seconds (from 0), not ``time.monotonic()``;
* its selector looks at the real file descriptors without waiting, and when
  nothing is ready and asyncio would sleep until its next timer, the clock
  jumps to that timer instead of sleeping.

So every ``call_at``, ``asyncio.sleep`` and timeout of the code it runs (the
controller's deadline-corrected loop, the bridge's link timers, the simulated
rig's tick) happens in order and at its exact simulated time, and simulated
time runs as fast as the CPU allows. Nothing in the code it runs knows: that
code reads ``loop.time()`` as it always does (docs/control.md, "time is an
argument").

Rules: callbacks that are ready run before the clock moves (time moves only
when the loop would otherwise sleep); with no timer at all the loop waits on
the real selector (a worker thread's result arrives there); real I/O is served
when it is ready but takes no simulated time, so a run is deterministic only
without real I/O and threads (the in-memory link, ``firmware_bridge.memory``,
has neither). ``looptime`` does the same for tests; this is the dozen lines
the lockstep runner needs, without a pytest plugin or patching.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Mapping
from typing import Any

__all__ = ["VirtualClockLoop"]


class _JumpingSelector(selectors.BaseSelector):
    """A real selector that never waits while a timer is pending: the clock jumps."""

    def __init__(self, real: selectors.BaseSelector) -> None:
        self._real = real
        self.loop: VirtualClockLoop | None = None  # set by the loop it serves

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None
               ) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:  # no timer: only another thread or real I/O can wake us
            return self._real.select(None)
        ready = self._real.select(0)
        if not ready and timeout > 0 and self.loop is not None:
            self.loop.advance(timeout)
        return ready

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """See the module docstring. ``time()`` starts at *start* simulated seconds."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self.jumps = 0  # how often the clock jumped to a timer
        selector = _JumpingSelector(selectors.DefaultSelector())
        super().__init__(selector)
        selector.loop = self

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock on (the selector does this; never backwards)."""
        if seconds > 0:
            self._now += seconds
            self.jumps += 1
