"""The rover's MQTT downlink: durable outbox, publisher, throttles (docs/telemetry.md).

``Downlink`` (``facade``) is what the controller holds: every ``publish_*`` appends
to the SQLite ``outbox``; the ``publisher`` task drains it through the shared
``telemetry.mqtt.adapter`` under a ``rate_limit.TokenBucket``; ``event_throttle``
collapses repeated events. Payloads and topics come from ``telemetry.contract``.
This room never imports ``control`` or ``telemetry.ground``.
"""

from telemetry.rover.downlink.errors import (
    DownlinkConfigError,
    DownlinkError,
    DownlinkUsageError,
    OutboxClosedError,
    OutboxError,
)
from telemetry.rover.downlink.facade import (
    Clock,
    Downlink,
    DownlinkConfig,
    DownlinkCounters,
    SystemClock,
    UplinkCommand,
)

__all__ = [
    "Clock",
    "Downlink",
    "DownlinkConfig",
    "DownlinkConfigError",
    "DownlinkCounters",
    "DownlinkError",
    "DownlinkUsageError",
    "OutboxClosedError",
    "OutboxError",
    "SystemClock",
    "UplinkCommand",
]
