"""Which public key each rig signs its downlink with: the ground's ``--rig-key`` options.

    rig-ground --rig-key rig-1=keys/rover-1.pub --rig-key rig-2=<64 hex> [--unverified drop] ...

With at least one ``--rig-key``, every tool believes state, events, acks, status
and ledger messages of a listed rig only with that rig's signature
(``telemetry.contract.downlink_signature``); a rig that is not listed is shown
as unverified, or ignored with ``--unverified drop``. Without any, nothing is
checked (as before signing existed).
"""

from __future__ import annotations

import argparse

from nacl.signing import VerifyKey

from telemetry.contract import check_name
from telemetry.contract.errors import ContractConfigError, KeyFileError
from telemetry.contract.keys import load_public_key
from telemetry.ground.errors import GroundUsageError

__all__ = ["add_arguments", "parse_rig_key", "rig_keys_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rig-key", action="append", default=[], metavar="RIG=KEY",
                        help="a rig and its public key (.pub file or 64 hex): its downlink "
                             "is believed only with its signature (repeat for each rig)")
    parser.add_argument("--unverified", choices=("show", "drop"), default="show",
                        help="messages of rigs without a --rig-key: show them marked "
                             "unverified, or drop them (%(default)s)")


def parse_rig_key(spec: str) -> tuple[str, VerifyKey]:
    """``RIG=KEY`` -> (rig id, key); raises ``GroundUsageError`` naming what is wrong."""
    rig, sep, key = spec.partition("=")
    if not sep or not key:
        raise GroundUsageError(f"--rig-key: expected RIG=KEY, got {spec!r}")
    try:
        check_name("rig", rig)
        _, verify_key = load_public_key(key)
    except (ContractConfigError, KeyFileError, ValueError) as err:
        raise GroundUsageError(f"--rig-key {spec}: {err}") from err
    return rig, verify_key


def rig_keys_from_args(args: argparse.Namespace) -> dict[str, VerifyKey] | None:
    """The rig keys given, or ``None`` when none were (nothing is verified then)."""
    specs = getattr(args, "rig_key", None) or []
    if not specs:
        return None
    keys: dict[str, VerifyKey] = {}
    for spec in specs:
        rig, key = parse_rig_key(spec)
        if rig in keys:
            raise GroundUsageError(f"--rig-key: {rig} given twice")
        keys[rig] = key
    return keys
