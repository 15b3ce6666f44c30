"""The only module that imports aiomqtt (aiomqtt 3 will change its API).

It offers three things: :class:`MqttSettings` (from a ``mqtt://`` or ``mqtts://``
URL plus credentials and TLS files), ``connect(settings, will=...)`` an async
context manager yielding an :class:`MqttSession`, and the session's
``publish`` (returns after PUBACK for QoS 1), ``subscribe`` and ``messages()``.
With ``MqttSettings.manual_ack`` the session does not acknowledge a received
QoS 1 message until the caller calls ``message.ack()`` (e.g. once it is
committed to disk); acknowledgements must follow the order of arrival (MQTT 5
§4.6), and an ack through a session that has since closed is a no-op (the
broker redelivers the message to the next session).
aiomqtt/paho errors are translated at this boundary: a failed connect raises
``BrokerUnavailableError``; a dropped link raises ``LinkLostError`` from
``messages()`` and from pending ``publish`` calls. No reconnecting here: the
callers own their reconnect loops.

PUBACK reason codes: with MQTT 5 the broker says in the PUBACK whether it took a
QoS 1 message (Mosquitto answers 0x87 "Not authorized" when its ACL denies the
topic, and still acknowledges). ``publish`` checks every code and raises
``PublishRejectedError`` for a failure (>= 0x80), with ``retryable`` set for the
codes that may succeed later. aiomqtt 2 drops the code, so the session hooks
paho's ``on_publish`` and waits for the PUBACK itself. MQTT 3.1.1 has no reason
codes: a denied publish is acknowledged like any other and cannot be detected.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal
from urllib.parse import unquote, urlsplit

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from telemetry.mqtt.errors import (
    BrokerUnavailableError,
    LinkLostError,
    MqttConfigError,
    PublishRejectedError,
)

__all__ = ["RETRYABLE_PUBACK_CODES", "InboundMessage", "LastWill", "MqttSession", "MqttSettings",
           "connect"]

log = logging.getLogger(__name__)

_SESSION_EXPIRY_S = 24 * 3600

#: PUBACK failure codes after which the same message may be accepted later (MQTT 5
#: section 3.4.2.1): unspecified error, implementation specific error, packet
#: identifier in use, quota exceeded. Every other failure code (not authorized, topic
#: name invalid, packet too large, payload format invalid, ...) is permanent.
RETRYABLE_PUBACK_CODES = frozenset({0x80, 0x83, 0x91, 0x97})


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_insecure: bool = False  # skip hostname verification (bench setups only)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    keepalive: int = 30
    client_id: str | None = None
    persistent_session: bool = False  # broker keeps our subscriptions and QoS 1 queue
    session_expiry_s: int = _SESSION_EXPIRY_S  # MQTT 5: how long the broker keeps it offline
    manual_ack: bool = False  # received QoS 1 messages are acked by ``message.ack()``
    receive_maximum: int | None = None  # MQTT 5: unacked messages the broker may send us
    max_in_flight: int = 64
    connect_timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str, **overrides: object) -> MqttSettings:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS, port 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise MqttConfigError(
                "broker_url", f"expected mqtt://host[:port] or mqtts://host[:port], got {url!r}")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as err:
            raise MqttConfigError("broker_url", f"bad port in {url!r}") from err
        settings = cls(
            host=parts.hostname, port=port, tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **overrides)  # type: ignore[arg-type]

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=self.tls_ca_file)
            if self.tls_cert_file:
                ctx.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        except (OSError, ssl.SSLError) as err:
            raise MqttConfigError("tls", f"cannot load TLS files: {err}") from err
        if self.tls_insecure:
            ctx.check_hostname = False
        return ctx


@dataclass(frozen=True, slots=True)
class LastWill:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def _acked_automatically() -> None:
    return None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    #: sends the PUBACK (``manual_ack`` sessions); a no-op otherwise
    ack: Callable[[], None] = field(default=_acked_automatically, compare=False, repr=False)


class MqttSession:
    """One live connection. Create with :func:`connect`."""

    def __init__(self, client: aiomqtt.Client, publish_timeout: float,
                 manual_ack: bool = False) -> None:
        # aiomqtt warns above 10 pending calls; our window is the real bound.
        client.pending_calls_threshold = 1 << 30
        self._client = client
        self._publish_timeout = publish_timeout
        # aiomqtt 2 waits for the PUBACK but drops its reason code, so QoS 1 publishes
        # go to paho directly and these futures (by packet id) receive the code. paho
        # runs its callbacks on this event loop's thread (aiomqtt drives its sockets).
        self._paho: paho.Client = client._client
        self._pubacks: dict[int, asyncio.Future[ReasonCode]] = {}
        aiomqtt_on_publish = self._paho.on_publish

        def on_publish(client: paho.Client, userdata: object, mid: int,
                       reason_code: ReasonCode, properties: Properties | None) -> None:
            waiter = self._pubacks.pop(mid, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(reason_code)
            aiomqtt_on_publish(client, userdata, mid, reason_code, properties)

        self._paho.on_publish = on_publish
        self._manual_ack = manual_ack
        self.open = True

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False) -> None:
        """Send one message; for QoS 1, return once the broker's PUBACK accepted it.

        Raises ``PublishRejectedError`` if the PUBACK carries a failure reason code
        (MQTT 5), ``LinkLostError`` if the publish cannot be sent or no PUBACK comes in
        time. A dropped link shows first in ``messages()``: run it alongside."""
        if qos == 0:
            try:
                await self._client.publish(topic, payload, qos=0, retain=retain,
                                           timeout=self._publish_timeout)
            except aiomqtt.MqttError as err:
                raise LinkLostError(f"publish to {topic} failed: {err}") from err
            return
        info = self._paho.publish(topic, payload, qos, retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise LinkLostError(f"publish to {topic} failed: {paho.error_string(info.rc)}"
                                ) from self._disconnect_cause()
        # No PUBACK can have been handled yet: paho reads the socket only from this
        # loop's reader callback, which cannot run before we await.
        waiter: asyncio.Future[ReasonCode] = asyncio.get_running_loop().create_future()
        self._pubacks[info.mid] = waiter
        try:
            async with asyncio.timeout(self._publish_timeout):
                code = await waiter
        except TimeoutError as err:
            raise LinkLostError(f"no PUBACK for {topic} within "
                                f"{self._publish_timeout:g} s") from err
        finally:
            self._pubacks.pop(info.mid, None)
        if code.is_failure:
            value = int(code.value)
            raise PublishRejectedError(topic, value, str(code),
                                       retryable=value in RETRYABLE_PUBACK_CODES)

    def _disconnect_cause(self) -> BaseException | None:
        """Why aiomqtt saw the link drop, if it did. Reading it marks aiomqtt's future
        retrieved, as its own publish does (else asyncio logs it as never retrieved)."""
        disconnected = self._client._disconnected
        if disconnected.done() and not disconnected.cancelled():
            return disconnected.exception()
        return None

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        try:
            await self._client.subscribe(topic_filter, qos=qos)
        except aiomqtt.MqttError as err:
            raise LinkLostError(f"subscribe to {topic_filter} failed: {err}") from err

    async def messages(self) -> AsyncIterator[InboundMessage]:
        """Incoming messages; raises ``LinkLostError`` when the connection drops.

        Messages already received are handed out without waiting: aiomqtt's iterator
        makes a task and an ``asyncio.wait`` for every message, two or more loop turns
        each, so on a loop busy with other work (a web console under a login flood:
        ~0.2 s a turn on a loaded machine) the intake fell to a few messages a second
        and a command's ack sat behind the backlog for longer than its timeout. Only
        an empty queue waits (and notices a dropped connection)."""
        queue: asyncio.Queue[aiomqtt.Message] = self._client._queue
        waiting = aiomqtt.client.MessagesIterator(self._client)
        try:
            while True:
                m = queue.get_nowait() if not queue.empty() else await anext(waiting)
                yield self._inbound(m)
        except aiomqtt.MqttError as err:
            raise LinkLostError(f"connection lost: {err}") from err

    def _inbound(self, m: aiomqtt.Message) -> InboundMessage:
        payload = m.payload if isinstance(m.payload, bytes) else str(m.payload or "").encode()
        if self._manual_ack and m.qos > 0:
            return InboundMessage(m.topic.value, payload, m.qos, bool(m.retain),
                                  partial(self._ack, m.mid, m.qos))
        return InboundMessage(m.topic.value, payload, m.qos, bool(m.retain))

    def _ack(self, mid: int, qos: int) -> None:
        if not self.open:  # a new connection reuses message ids: never ack across sessions
            log.debug("ack of message %d dropped: its session closed", mid)
            return
        # aiomqtt 2 has no manual-ack API; paho's, on the client it wraps, is the way in.
        self._client._client.ack(mid, qos)


def _register_writes_safely(client: aiomqtt.Client) -> None:
    """Watch paho's socket for writability only while it is open.

    aiomqtt 2.5 answers paho's "I have bytes to write" with
    ``call_soon_threadsafe(loop.add_writer, sock.fileno(), ...)``: the descriptor
    number is read at once, the registration runs a loop turn later. When the
    broker goes away, the read that finds the connection gone can run in between
    (a publish and the socket's end of file in the same loop turn) and paho closes
    the socket: the late registration then fails in asyncio's log ("Bad file
    descriptor") or, had the number been re-used by then, watches another socket
    or file with a dead client's callback. This registration looks at the socket
    when it runs, and the callback fails the connection as aiomqtt's does.
    """
    paho_client: paho.Client = client._client
    loop = asyncio.get_running_loop()

    def write_ready() -> None:
        try:
            paho_client.loop_write()
        except Exception as exc:  # e.g. BrokenPipeError: the connection is gone
            if not client._disconnected.done():
                client._disconnected.set_exception(exc)

    def on_register_write(c: paho.Client, userdata: object, sock: socket.socket) -> None:
        def register() -> None:
            if c.socket() is sock and sock.fileno() != -1:
                loop.add_writer(sock.fileno(), write_ready)

        loop.call_soon_threadsafe(register)  # paho may call from the connect thread

    paho_client.on_socket_register_write = on_register_write


#: Packets read per readiness of the socket, at most (see ``_read_in_bursts``).
READ_BURST = 64


def _read_in_bursts(client: aiomqtt.Client) -> None:
    """Read every waiting packet when the socket is readable, not one per loop turn.

    aiomqtt calls paho's ``loop_read()`` once per readiness callback, and paho reads
    one packet per call. That is one packet per event-loop iteration: when the loop
    is busy with other work (a web console under a login flood spends ~0.1 s per
    iteration), a rig's 30 messages a second pile up in the socket faster than they
    are read, and a command's ack waits behind an ever longer backlog: it was never
    seen within 10 s. Here each readiness reads on while the socket holds data, up
    to ``READ_BURST`` packets, so the intake keeps up with any loop iteration rate.
    """
    paho_client: paho.Client = client._client
    read_one = paho_client.loop_read

    def read_burst(max_packets: int = 1) -> paho.MQTTErrorCode:
        rc = read_one(max_packets)
        for _ in range(READ_BURST - 1):
            sock = paho_client.socket()
            if rc != paho.MQTT_ERR_SUCCESS or sock is None or sock.fileno() == -1:
                break
            pending = getattr(sock, "pending", None)  # TLS: bytes decrypted, not yet read
            if not (pending and pending()) and not select.select([sock], [], [], 0)[0]:
                break
            rc = read_one(max_packets)
        return rc

    paho_client.loop_read = read_burst  # type: ignore[method-assign]


@asynccontextmanager
async def connect(settings: MqttSettings, *,
                  will: LastWill | None = None) -> AsyncIterator[MqttSession]:
    """Connect, yield a session, disconnect cleanly (the will is not sent then)."""
    v5 = settings.protocol == "5"
    kwargs: dict[str, object] = {}
    if v5:
        kwargs["protocol"] = aiomqtt.ProtocolVersion.V5
        kwargs["clean_start"] = not settings.persistent_session
        props = Properties(PacketTypes.CONNECT)
        if settings.persistent_session:
            props.SessionExpiryInterval = settings.session_expiry_s
        if settings.receive_maximum is not None:
            props.ReceiveMaximum = settings.receive_maximum
        if settings.persistent_session or settings.receive_maximum is not None:
            kwargs["properties"] = props
    else:
        kwargs["protocol"] = aiomqtt.ProtocolVersion.V311
        kwargs["clean_session"] = not settings.persistent_session
    client = aiomqtt.Client(
        settings.host, settings.port,
        username=settings.username, password=settings.password,
        identifier=settings.client_id,
        will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain) if will else None,
        keepalive=settings.keepalive,
        timeout=settings.connect_timeout,
        max_inflight_messages=settings.max_in_flight,
        tls_context=settings.ssl_context(),
        socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        logger=log,
        **kwargs,  # type: ignore[arg-type]
    )
    _register_writes_safely(client)
    _read_in_bursts(client)
    if settings.manual_ack:
        # before connecting: a resumed session's queue arrives right after CONNACK
        client._client.manual_ack_set(True)
    try:
        await client.__aenter__()
    except aiomqtt.MqttError as err:
        raise BrokerUnavailableError(
            f"cannot connect to {settings.host}:{settings.port}: {err}") from err
    session = MqttSession(client, publish_timeout=max(30.0, 3.0 * settings.keepalive),
                          manual_ack=settings.manual_ack)
    try:
        yield session
    finally:
        session.open = False
        try:
            await client.__aexit__(None, None, None)
        except aiomqtt.MqttError as err:
            log.debug("disconnect from %s:%d: %s", settings.host, settings.port, err)
