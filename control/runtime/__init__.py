"""The controller's asyncio shell: the one room with I/O, clocks and tasks.

``control.runtime.app:RigController`` owns the event loop's tasks and wires the bridge,
the sensor feed, the pure core (``control.core``), the command gate (``control.security``)
and the downlink together. Import the modules by name (``control.runtime.app``).
"""

__all__: list[str] = []
