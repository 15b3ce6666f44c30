"""``rig-ground keygen NAME``: create an Ed25519 key pair for a ground station or a rover.

Writes ``NAME.key`` (secret, mode 0600, never overwritten without ``--force``)
and ``NAME.pub``, then prints the public key and the ``[security.keys.NAME]``
table to paste into the rover's configuration (docs/commands.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from telemetry.contract.keys import generate, write_key_files

__all__ = ["register", "rover_config_snippet"]


def rover_config_snippet(key_id: str, public_hex: str, role: str) -> str:
    return f'[security.keys.{key_id}]\npublic_key = "{public_hex}"\nrole = "{role}"\n'


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("keygen", help="create an Ed25519 key pair (station or rover)")
    p.add_argument("name", help="key id, e.g. ops-1 (1-64 of [A-Za-z0-9_.-])")
    p.add_argument("--dir", type=Path, default=Path("."), help="where to write the files")
    p.add_argument("--role", choices=("observer", "operator"), default="operator",
                   help="role to print in the rover config snippet (%(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite an existing secret key")
    p.set_defaults(func=_main, needs_broker=False)


def _main(args: argparse.Namespace, settings: object) -> int:
    try:
        key = generate(args.name)
        secret, public = write_key_files(key, args.dir, overwrite=args.force)
    except ValueError as err:
        print(f"rig-ground keygen: {err}")
        return 2
    except FileExistsError:
        print(f"rig-ground keygen: {args.dir / (args.name + '.key')} exists "
              f"(use --force to replace it; the old key stops working)")
        return 2
    except OSError as err:
        print(f"rig-ground keygen: cannot write key files: {err}")
        return 2
    print(f"secret key: {secret}  (keep it private; mode 0600)")
    print(f"public key: {public}")
    print(f"fingerprint: {key.fingerprint}")
    print("\nAdd this to the rover configuration to authorise the key:\n")
    print(rover_config_snippet(key.key_id, key.public_key_hex, args.role))
    return 0
