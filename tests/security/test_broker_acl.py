"""Through a real Mosquitto: the shipped ACL, and ``rig-ground send`` against the authenticator.

No sleeps: to show that a denied publish never arrived, the same client then
publishes an allowed *marker* at QoS 1; Mosquitto delivers one publisher's
messages to a subscriber in order, so once the marker is in, anything allowed
before it would have been too.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from control.security import (
    AuthorizedCommand,
    SignedCommandAuthenticator,
    SqliteReplayStore,
    StationKey,
    security_config_from_dict,
    write_key_files,
)
from telemetry.contract import TopicTree
from telemetry.contract.payloads import AckMessage, Envelope, encode
from telemetry.ground import cli
from telemetry.mqtt.adapter import InboundMessage, MqttSession, MqttSettings, connect
from telemetry.mqtt.errors import BrokerUnavailableError

from .helpers import OBS, OPS

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
ACL = REPO / "deploy" / "mosquitto" / "acl"
PASSWORDS = {"rig-1": "rover-pw", "rig-2": "rover2-pw", "ops-1": "ops-pw", "obs-1": "obs-pw"}
DEADLINE_S = 5.0
TOPICS = TopicTree("regolith", "rig-1")


def password_file(tmp_path: Path) -> str:
    path = tmp_path / "passwd"
    path.touch()
    for user, pw in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, pw], check=True,
                       capture_output=True)
    return path.read_text()


@pytest.fixture
def secured_broker(mosquitto_factory: Callable, tmp_path: Path):
    return mosquitto_factory(
        extra_config=["password_file {dir}/passwd", "acl_file {dir}/acl"],
        files={"passwd": password_file(tmp_path), "acl": ACL.read_text()},
        allow_anonymous=True)


def settings_for(broker, user: str | None, password: str | None = None) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, username=user,
                        password=password if password is not None else PASSWORDS.get(user or ""),
                        client_id=f"test-{user or 'anon'}-{time.monotonic_ns()}")


@asynccontextmanager
async def session(broker, user: str | None) -> AsyncIterator[MqttSession]:
    async with connect(settings_for(broker, user)) as s:
        yield s


async def collect_until(sub: MqttSession, marker_topic: str, marker: bytes
                        ) -> list[InboundMessage]:
    """Everything the subscriber gets up to and including the marker (explicit deadline)."""
    got: list[InboundMessage] = []
    async with asyncio.timeout(DEADLINE_S):
        async for m in sub.messages():
            got.append(m)
            if m.topic == marker_topic and m.payload == marker:
                return got
    raise AssertionError("unreachable")  # pragma: no cover


async def test_ground_cannot_publish_telemetry_and_rover_cannot_publish_commands(
        secured_broker) -> None:
    async with session(secured_broker, "obs-1") as watcher, \
            session(secured_broker, None) as public_watcher:
        await watcher.subscribe("regolith/#")
        await watcher.subscribe("public/#")
        await public_watcher.subscribe("#")  # ACL narrows this to public/# for anonymous

        async with session(secured_broker, "ops-1") as ground:
            for topic in (TOPICS.state, TOPICS.ledger, TOPICS.ack, TOPICS.status,
                          "public/regolith/rig-1/feed"):
                await ground.publish(topic, b"forged by a ground key")
            await ground.publish(TOPICS.command, b"ground marker")  # allowed
        got = await collect_until(watcher, TOPICS.command, b"ground marker")
        assert [m.topic for m in got] == [TOPICS.command]

        async with session(secured_broker, "rig-1") as rover:
            await rover.publish(TOPICS.command, b"self-issued command")  # denied
            await rover.publish("regolith/rig-2/state", b"impersonating rig-2")  # denied
            await rover.publish("public/regolith/rig-2/feed", b"impersonating rig-2")  # denied
            await rover.publish("public/regolith/rig-1/feed", b"public")  # allowed
            await rover.publish(TOPICS.ledger, b"rover marker")  # allowed
        got = await collect_until(watcher, TOPICS.ledger, b"rover marker")
        assert [(m.topic, m.payload) for m in got] == [
            ("public/regolith/rig-1/feed", b"public"), (TOPICS.ledger, b"rover marker")]

        async with session(secured_broker, None) as anonymous:
            await anonymous.publish(TOPICS.command, b"anonymous command")  # denied
            await anonymous.publish("public/regolith/rig-1/feed", b"anon feed")  # denied
        async with session(secured_broker, "rig-1") as rover:
            await rover.publish("public/regolith/rig-1/safety_zone", b"zone marker")
        got = await collect_until(watcher, "public/regolith/rig-1/safety_zone", b"zone marker")
        assert [m.payload for m in got] == [b"zone marker"]
        # the anonymous client saw only the public subtree, never the private telemetry
        got = await collect_until(public_watcher, "public/regolith/rig-1/safety_zone",
                                  b"zone marker")
        assert {m.topic for m in got} == {"public/regolith/rig-1/feed",
                                          "public/regolith/rig-1/safety_zone"}


async def test_rover_reads_only_its_own_commands_and_bad_passwords_fail(secured_broker) -> None:
    async with session(secured_broker, "rig-1") as rover:
        await rover.subscribe("regolith/#")  # narrowed to regolith/rig-1/cmd by the ACL
        async with session(secured_broker, "ops-1") as ground:
            await ground.publish(TOPICS.ledger.replace("rig-1", "rig-2"), b"x")  # denied anyway
            await ground.publish("regolith/rig-2/cmd", b"for rig-2")
            await ground.publish(TOPICS.command, b"for rig-1")
        got = await collect_until(rover, TOPICS.command, b"for rig-1")
        assert [m.payload for m in got] == [b"for rig-1"]
    with pytest.raises(BrokerUnavailableError):
        async with connect(settings_for(secured_broker, "ops-1", "wrong")):
            pass  # pragma: no cover


def test_the_acl_is_a_template_no_rig_or_prefix_is_written_in() -> None:
    rules = [line.split("#")[0].strip() for line in ACL.read_text().splitlines()]
    rules = [r for r in rules if r]
    assert not [r for r in rules if "rig-1" in r or "regolith" in r]
    assert any(r.startswith("pattern write") and "%u" in r for r in rules)


async def test_any_rig_under_any_prefix_gets_only_its_own_topics(secured_broker) -> None:
    """rig-2 and the prefix "fleet" appear nowhere in the ACL: the %u patterns serve them."""
    fleet = TopicTree("fleet", "rig-2")
    async with session(secured_broker, "obs-1") as watcher:
        await watcher.subscribe("#")
        async with session(secured_broker, "rig-2") as rover:
            await rover.publish(fleet.state, b"rig-2 state")  # allowed
            await rover.publish(fleet.event("alarm"), b"rig-2 alarm")  # allowed
            await rover.publish(TOPICS.state, b"impersonating rig-1")  # denied
            await rover.publish("fleet/rig-1/ledger", b"impersonating rig-1")  # denied
            await rover.publish(fleet.command, b"self-issued command")  # denied
            await rover.publish("public/rig-2/state", b"private data made public")  # denied
            await rover.publish("public/fleet/rig-2/feed", b"feed")  # allowed
            await rover.publish(fleet.ledger, b"rig-2 marker")  # allowed
        got = await collect_until(watcher, fleet.ledger, b"rig-2 marker")
        assert [m.payload for m in got] == [b"rig-2 state", b"rig-2 alarm", b"feed",
                                            b"rig-2 marker"]
        async with session(secured_broker, "rig-2") as rover:
            await rover.subscribe("#")  # narrowed by the ACL to its own command topic
            async with session(secured_broker, "ops-1") as ground:
                await ground.publish("fleet/rig-1/cmd", b"for rig-1")
                await ground.publish(fleet.command, b"for rig-2")
            got = await collect_until(rover, fleet.command, b"for rig-2")
            assert [m.payload for m in got] == [b"for rig-2"]


async def test_a_ground_station_cannot_pose_as_a_rig_named_after_itself(secured_broker) -> None:
    async with session(secured_broker, "obs-1") as watcher:
        await watcher.subscribe("#")
        async with session(secured_broker, "ops-1") as ground:
            for topic in ("regolith/ops-1/state", "regolith/ops-1/ledger",
                          "public/regolith/ops-1/feed"):
                await ground.publish(topic, b"forged rig ops-1")  # denied
            await ground.publish(TOPICS.command, b"station marker")  # allowed
        got = await collect_until(watcher, TOPICS.command, b"station marker")
        assert [m.payload for m in got] == [b"station marker"]


class RoverStandIn:
    """What the controller will do with the seam: verify, ack, never act on a rejection."""

    def __init__(self, auth: SignedCommandAuthenticator) -> None:
        self.auth = auth
        self.results: list[AuthorizedCommand | object] = []
        self.raw: list[bytes] = []
        self.seq = 0

    async def run(self, s: MqttSession, ready: asyncio.Event) -> None:
        await s.subscribe(TOPICS.command)
        ready.set()
        async for m in s.messages():
            self.raw.append(m.payload)
            result = self.auth.verify(m.topic, m.payload, time.time())
            self.results.append(result)
            if isinstance(result, AuthorizedCommand):
                ack = AckMessage(self._env(), result.command_id, True, "")
            else:
                ack = AckMessage(self._env(), result.command_id, False, result.ack_reason)
            await s.publish(TOPICS.ack, encode(ack))

    def _env(self) -> Envelope:
        self.seq += 1
        return Envelope("rig-1", 1, self.seq, time.time(), time.monotonic())


def _keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for key in (OPS, OBS):
        secret, _ = write_key_files(StationKey(key.key_id, key.signing_key), tmp_path)
        out[key.key_id] = secret
    return out


async def test_rig_ground_send_is_accepted_through_the_secured_broker(
        secured_broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert "telemetry.ground.send" in cli.SUBCOMMANDS
    keys = _keys(tmp_path)
    cfg = security_config_from_dict({"keys": {
        "ops-1": {"public_key": OPS.public_key_hex, "role": "operator"},
        "obs-1": {"public_key": OBS.public_key_hex, "role": "observer"}}})
    store = SqliteReplayStore(tmp_path / "replay.db")
    rover = RoverStandIn(SignedCommandAuthenticator(cfg, store, TOPICS.command))

    def send(user: str, *argv: str) -> int:
        return cli.main(["--broker", f"mqtt://127.0.0.1:{secured_broker.port}",
                         "--username", user, "--password", PASSWORDS[user],
                         "--mqtt-protocol", "3.1.1", "--rig", "rig-1", "send",
                         "--key", str(keys[user]), "--timeout", str(DEADLINE_S), *argv])

    async with session(secured_broker, "rig-1") as s:
        ready = asyncio.Event()
        task = asyncio.create_task(rover.run(s, ready), name="rover-stand-in")
        await asyncio.wait_for(ready.wait(), DEADLINE_S)
        try:
            rc = await asyncio.to_thread(send, "ops-1", "set_param", "name=max_depth_m",
                                         "value=0.05")
            assert rc == 0, capsys.readouterr()
            assert "accepted" in capsys.readouterr().out
            accepted = rover.results[-1]
            assert isinstance(accepted, AuthorizedCommand)
            assert accepted.key_id == "ops-1" and accepted.args == {"name": "max_depth_m",
                                                                   "value": 0.05}
            rc = await asyncio.to_thread(send, "obs-1", "arm")
            assert rc == 1
            assert "rejected: unauthorised" in capsys.readouterr().out
            # a captured command replayed by someone with broker access (ops-1's account)
            async with session(secured_broker, "ops-1") as attacker:
                await attacker.subscribe(TOPICS.ack)
                await attacker.publish(TOPICS.command, rover.raw[0])
                async with asyncio.timeout(DEADLINE_S):
                    async for m in attacker.messages():
                        if m.topic == TOPICS.ack and b"replayed" in m.payload:
                            break
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    store.close()
    # and after a rover restart the replay is still refused
    store = SqliteReplayStore(tmp_path / "replay.db")
    again = SignedCommandAuthenticator(cfg, store, TOPICS.command).verify(
        TOPICS.command, rover.raw[0], time.time())
    assert not isinstance(again, AuthorizedCommand) and again.reason.value == "replayed"
    store.close()
