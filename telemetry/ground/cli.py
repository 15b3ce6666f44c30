"""``rig-ground``: ground-station tools. One module per subcommand.

``rig-ground serve`` is the web console; ``watch``, ``record``, ``report``,
``plot``, ``send``, ``keygen``, ``ledger`` and ``user`` are the command-line tools.

Each module in ``SUBCOMMANDS`` exposes ``register(subparsers)`` which adds its
parser and sets ``func(args, settings) -> int`` (and ``needs_broker=False`` if it
works offline). To add a tool (``keygen``, ``send``, ``ledger``...), write the
module and append its dotted name here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from telemetry.contract import DEFAULT_PREFIX
from telemetry.contract.errors import ContractError
from telemetry.ground import rig_keys
from telemetry.ground.errors import GroundError
from telemetry.mqtt.adapter import MqttSettings
from telemetry.mqtt.errors import MqttError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

SUBCOMMANDS: list[str] = [
    "telemetry.ground.watch",
    "telemetry.ground.record",
    "telemetry.ground.plot",
    "telemetry.ground.report",
    "telemetry.ground.keys",
    "telemetry.ground.send",
    "telemetry.ground.ledger_verify",
    "telemetry.ground.console.serve",
    "telemetry.ground.console.user_cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rig-ground", description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                        help="mqtt://[user@]host[:port] or mqtts://... (default %(default)s)")
    parser.add_argument("--username")
    parser.add_argument("--password", default=os.environ.get("RIG_GROUND_PASSWORD"),
                        help="(default: $RIG_GROUND_PASSWORD)")
    parser.add_argument("--tls-ca", help="CA file for mqtts://")
    parser.add_argument("--tls-cert", help="client certificate for mqtts://")
    parser.add_argument("--tls-key", help="client key for mqtts://")
    parser.add_argument("--mqtt-protocol", choices=("3.1.1", "5"), default="5")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix (%(default)s)")
    parser.add_argument("--rig", help="one rig id (default: every rig under the prefix)")
    parser.add_argument("--client-id", help="MQTT client id (default: random)")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    rig_keys.add_arguments(parser)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = None
        if getattr(args, "needs_broker", True):
            settings = MqttSettings.from_url(
                args.broker, username=args.username, password=args.password,
                tls_ca_file=args.tls_ca, tls_cert_file=args.tls_cert, tls_key_file=args.tls_key,
                protocol=args.mqtt_protocol, client_id=args.client_id)
        return int(args.func(args, settings))
    except (MqttError, ContractError, GroundError) as err:
        print(f"rig-ground: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
