"""The MQTT adapter's exception tree, shared by the downlink and the ground tools.

``telemetry.mqtt.adapter`` translates aiomqtt/paho errors into these at its
boundary, so neither the downlink nor the ground tools see a library exception:

* ``MqttError`` is the root.
* ``MqttConfigError`` (also a ``ValueError``) names the setting that is wrong
  (``broker_url``, ``tls``): "you called it wrongly".
* ``BrokerError`` (also a ``ConnectionError``) and its children mean "the broker
  or the link misbehaved"; the reconnect loops catch them, the control loop never
  sees them. ``BrokerUnavailableError``: connecting failed (refused, unreachable,
  bad credentials). ``LinkLostError``: an established connection dropped.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "BrokerUnavailableError",
    "LinkLostError",
    "MqttConfigError",
    "MqttError",
    "PublishRejectedError",
]


class MqttError(Exception):
    """Root of every error raised by ``telemetry.mqtt.adapter``."""


class MqttConfigError(MqttError, ValueError):
    """A connection setting is invalid; ``key`` names it."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class BrokerError(MqttError, ConnectionError):
    """The broker refused us or the link to it failed."""


class BrokerUnavailableError(BrokerError):
    """Connecting to the broker failed (refused, unreachable, bad credentials)."""


class LinkLostError(BrokerError):
    """An established connection to the broker dropped."""


class PublishRejectedError(BrokerError):
    """The broker answered a QoS 1 publish with a failure reason code (MQTT 5 only).

    ``reason_code`` is the PUBACK reason code (e.g. 0x87 "Not authorized": the ACL
    denies the topic); ``retryable`` says whether sending the same message again later
    may succeed (quota exceeded, server busy) or never will (not authorized, topic
    invalid, packet too large)."""

    def __init__(self, topic: str, reason_code: int, reason: str, *, retryable: bool) -> None:
        super().__init__(f"broker rejected the publish to {topic}: {reason} "
                         f"(reason code 0x{reason_code:02x})")
        self.topic = topic
        self.reason_code = reason_code
        self.reason = reason
        self.retryable = retryable
