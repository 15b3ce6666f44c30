"""Telemetry: the rooms between the rover's sensors and the ground station.

* ``telemetry.contract``: what rover and ground both speak (topic tree, payloads,
  CBOR arrays, signed command wire format, keys, ledger format, site plan).
  Imports nothing else of ours.
* ``telemetry.filters``: the rover's streaming filter core (Cython kernels and
  their NumPy twin). Imports nothing else of ours.
* ``telemetry.mqtt_adapter`` (+ ``telemetry.mqtt_errors``): the one aiomqtt
  adapter, shared by the downlink and the ground tools.
* ``telemetry.downlink``: the rover's MQTT downlink (outbox, publisher,
  throttles); imports the contract and the adapter.
* ``telemetry.ground``: ground-station tools (``rig-ground``); imports only the
  contract, the adapter and small shared utilities, never ``control`` or the
  downlink.

``tests/test_import_directions.py`` holds these rules; docs/architecture.md
draws the whole house.
"""

__all__: list[str] = []
