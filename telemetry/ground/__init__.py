"""Ground-station tools (``rig-ground``): watch, record, report, plot, keygen, send, ledger.

They import only ``telemetry.contract``, the MQTT adapter and small shared
utilities, never the rover's ``control`` or ``telemetry.rover.downlink``
(``tests/test_import_directions.py``).
"""

__all__: list[str] = []
