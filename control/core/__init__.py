"""The controller's pure core: supervisor, control step, strategies, interlocks, mass estimate.

Everything here is a value or a step object driven as ``update(now, ...)``/``step(...)``:
no I/O, no clock, no asyncio. ``control.runtime`` reads the hardware and the clock, calls
these steps and writes their outputs. Import the modules by name (``control.core.step``).
"""

__all__: list[str] = []
