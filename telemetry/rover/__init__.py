"""Telemetry code that runs only on the rover.

* ``telemetry.rover.filters``: the streaming filter core (Cython kernels and their NumPy twin),
  used by the controller's sensor feed.
* ``telemetry.rover.downlink``: the durable MQTT downlink (outbox, publisher, throttles).

Nothing on the ground imports this package.
"""

__all__: list[str] = []
