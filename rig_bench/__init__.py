"""Bench and test support: drives the service's ``RigController`` against the simulator's
``Rig`` over the in-memory link, on an event loop whose clock is simulated time
(``rig_bench.lockstep``, ``rig_bench.virtual_clock``).

Product code never imports this package (``tests/test_import_directions.py`` checks it);
``bench/`` and ``tests/`` do.
"""

__all__: list[str] = []
