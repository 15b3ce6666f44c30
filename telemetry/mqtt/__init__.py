"""The one MQTT adapter (aiomqtt behind a small surface), shared by rover and ground.

``telemetry.mqtt.adapter`` holds the session, settings and messages;
``telemetry.mqtt.errors`` the errors it translates aiomqtt's and paho's into.
"""

__all__: list[str] = []
