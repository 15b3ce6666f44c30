"""Telemetry: the rooms between the rover's sensors and the ground station.

* ``telemetry.contract``: what rover and ground both speak (topic tree, typed payloads,
  CBOR arrays, signed command wire format, keys, ledger format, site plan).
  Imports nothing else of ours.
* ``telemetry.mqtt``: the one aiomqtt adapter, shared by the rover's downlink and the
  ground tools.
* ``telemetry.rover``: code that runs only on the rover: ``telemetry.rover.filters`` (the
  streaming filter core) and ``telemetry.rover.downlink`` (outbox, publisher, throttles).
* ``telemetry.ground``: ground-station tools (``rig-ground``); imports only the
  contract, the adapter and small shared utilities, never ``control`` or the rover rooms.

``tests/test_import_directions.py`` holds these rules; docs/architecture.md
draws the whole house.
"""

__all__: list[str] = []
