"""``rig-ground send COMMAND [NAME=VALUE ...]``: sign a ground command, publish it, await its ack.

Builds the body of docs/commands.md (counter, id, issued/expiry times), signs
it with the station key (``--key``, default ``$RIG_GROUND_KEY``), publishes the
envelope at QoS 1 on ``{prefix}/{rig}/cmd`` and waits for the rover's ack on
``{prefix}/{rig}/ack`` with the same id (subscribed before publishing).
Exit status: 0 accepted, 1 rejected, 3 no ack before ``--timeout``.

The per-key counter lives next to the key (``KEY.counter``): the next value is
``max(last + 1, now in ms)``, written and fsynced *before* publishing, so two
commands never share a counter even across crashes or a lost counter file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import VerifyKey

from telemetry.contract import TopicTree
from telemetry.contract.command_wire import CommandBody, encode_body, sign_envelope
from telemetry.contract.downlink_signature import Verdict, verify_payload
from telemetry.contract.errors import ContractError, KeyFileError, PayloadDecodeError
from telemetry.contract.json_fields import JsonObject, JsonValue
from telemetry.contract.keys import StationKey, load_secret_key
from telemetry.contract.payloads import AckMessage, decode
from telemetry.ground.errors import GroundUsageError
from telemetry.ground.rig_keys import rig_keys_from_args
from telemetry.mqtt.adapter import MqttSettings, connect

__all__ = ["SignedCommand", "build_command", "next_counter", "parse_args", "register",
           "send_command"]


@dataclass(frozen=True, slots=True)
class SignedCommand:
    topic: str
    envelope: bytes
    body: CommandBody


def parse_args(pairs: Sequence[str]) -> JsonObject:
    """``name=value`` pairs; values are JSON when they parse as JSON, else strings."""
    out: JsonObject = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"argument {pair!r}: expected NAME=VALUE")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return out


def next_counter(path: Path, now_wall: float) -> int:
    """Reserve the next counter for a key: ``max(last + 1, now_ms)``, durably."""
    last = 0
    try:
        last = int(path.read_text().strip() or 0)
    except FileNotFoundError:
        pass
    except ValueError as err:
        raise KeyFileError(str(path), f"counter file is not an integer: {err}") from err
    counter = max(last + 1, int(now_wall * 1000))
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{counter}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return counter


def build_command(key: StationKey, topic: str, command: str, args: Mapping[str, JsonValue], *,
                  now_wall: float, counter: int, ttl_s: float = 30.0,
                  command_id: str | None = None) -> SignedCommand:
    """The signed envelope for one command (pure apart from the signature)."""
    body = CommandBody(counter=counter, command_id=command_id or f"{key.key_id}-{counter}",
                       command=command, issued_at=round(now_wall, 3),
                       expires_at=round(now_wall + ttl_s, 3), args=args)
    return SignedCommand(topic, sign_envelope(key.key_id, key.signing_key, topic,
                                              encode_body(body)), body)


async def send_command(settings: MqttSettings, cmd: SignedCommand, ack_topic: str, *,
                       timeout: float | None, rover_key: VerifyKey | None = None
                       ) -> AckMessage | None:
    """Publish ``cmd`` (QoS 1) and return its ack, or ``None`` after ``timeout`` s.

    With ``rover_key``, only an ack with the rig's signature counts: others are
    reported on stderr as forged and ignored."""
    async with connect(settings) as session:
        if timeout is not None:
            await session.subscribe(ack_topic, qos=1)
        await session.publish(cmd.topic, cmd.envelope, qos=1)
        if timeout is None:
            return None
        try:
            async with asyncio.timeout(timeout):
                async for message in session.messages():
                    try:
                        decoded = decode(message.payload)
                    except PayloadDecodeError:
                        continue
                    if not isinstance(decoded, AckMessage) or \
                            decoded.command_id != cmd.body.command_id:
                        continue
                    if rover_key is not None:
                        verdict = verify_payload(rover_key, message.topic, message.payload)
                        if verdict is not Verdict.VERIFIED:
                            print(f"ignored an ack for {decoded.command_id} without the rig's "
                                  f"signature ({verdict.value}): it claimed "
                                  f"{'accepted' if decoded.accepted else 'rejected'}",
                                  file=sys.stderr)
                            continue
                    return decoded
        except TimeoutError:
            return None
    return None  # pragma: no cover - messages() raises instead of ending


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("send", help="sign and send a ground command, wait for its ack")
    p.add_argument("cmd", metavar="COMMAND", help="arm, start, stop, estop, status, set_param...")
    p.add_argument("args", nargs="*", metavar="NAME=VALUE",
                   help="command arguments (values parsed as JSON when possible)")
    p.add_argument("--key", default=os.environ.get("RIG_GROUND_KEY"),
                   help="station secret key file (default: $RIG_GROUND_KEY)")
    p.add_argument("--ttl", type=float, default=30.0, help="seconds until the command expires")
    p.add_argument("--id", dest="command_id", help="command id (default: KEYID-COUNTER)")
    p.add_argument("--counter-file", type=Path, help="default: KEY.counter next to the key")
    p.add_argument("--timeout", type=float, default=10.0, help="wait this long for the ack")
    p.add_argument("--no-wait", action="store_true", help="publish and exit without the ack")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace, settings: MqttSettings) -> int:
    if not args.rig:
        print("rig-ground send: --rig RIG_ID is required (before 'send')", file=sys.stderr)
        return 2
    if not args.key:
        print("rig-ground send: --key FILE (or $RIG_GROUND_KEY) is required", file=sys.stderr)
        return 2
    try:
        key = load_secret_key(args.key)
        cmd_args = parse_args(args.args)
        now = time.time()
        counter = next_counter(args.counter_file or Path(args.key + ".counter"), now)
        topics = TopicTree(args.prefix, args.rig)
        cmd = build_command(key, topics.command, args.cmd, cmd_args, now_wall=now,
                            counter=counter, ttl_s=args.ttl,
                            command_id=args.command_id or f"{key.key_id}-{secrets.token_hex(4)}")
    except (ContractError, ValueError) as err:
        print(f"rig-ground send: {err}", file=sys.stderr)
        return 2
    try:
        keys = rig_keys_from_args(args)
    except GroundUsageError as err:
        print(f"rig-ground send: {err}", file=sys.stderr)
        return 2
    rover_key = keys.get(args.rig) if keys is not None else None
    if keys is not None and rover_key is None and args.unverified == "drop":
        print(f"rig-ground send: no --rig-key for {args.rig} and --unverified drop: no ack "
              f"could be believed", file=sys.stderr)
        return 2
    ack = asyncio.run(send_command(settings, cmd, topics.ack, rover_key=rover_key,
                                   timeout=None if args.no_wait else args.timeout))
    if args.no_wait:
        print(f"sent {cmd.body.command} {cmd.body.command_id} (counter {counter})")
        return 0
    if ack is None:
        print(f"no ack for {cmd.body.command_id} within {args.timeout} s", file=sys.stderr)
        return 3
    verdict = "accepted" if ack.accepted else f"rejected: {ack.reason}"
    trust = "" if keys is None or rover_key is not None else \
        " (UNVERIFIED: no --rig-key for this rig)"
    print(f"{cmd.body.command} {ack.command_id} {verdict}{trust}")
    return 0 if ack.accepted else 1
