"""Bench and test support: drives the controller against an in-process simulated rig.

Product code never imports this package (``tests/test_import_directions.py`` checks it);
``bench/`` and ``tests/`` do.
"""

__all__: list[str] = []
