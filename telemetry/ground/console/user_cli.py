"""``rig-ground user``: manage the console's user file.

    rig-ground user add NAME --role operator|observer [--users FILE] [--password-stdin]
    rig-ground user passwd NAME        rig-ground user role NAME ROLE
    rig-ground user remove NAME        rig-ground user list

Passwords are read twice from the terminal without echo, or once from stdin
with ``--password-stdin`` (scripts). A running console picks changes up at
once: a removed user's sessions stop working on their next request.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from telemetry.ground.console.users import DEFAULT_USERS, MIN_PASSWORD, ROLES, UserStore
from telemetry.ground.errors import UserFileError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("user", help="manage the web console's users")
    p.add_argument("--users", type=Path, default=Path(DEFAULT_USERS),
                   help="user file (%(default)s)")
    sub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", choices=sorted(ROLES), required=True,
                     help="operator: commands and alarm acknowledgement; observer: view only")
    passwd = sub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    for q in (add, passwd):
        q.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of stdin")
    role = sub.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=sorted(ROLES))
    remove = sub.add_parser("remove", help="remove a user")
    remove.add_argument("name")
    sub.add_parser("list", help="list users and roles")
    p.set_defaults(func=_main, needs_broker=False)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name} (at least {MIN_PASSWORD} characters): ")
    if getpass.getpass("again: ") != first:
        raise UserFileError(str(args.users), "the two passwords differ")
    return first


def _main(args: argparse.Namespace, settings: object) -> int:
    store = UserStore(args.users)
    try:
        match args.user_command:
            case "add":
                user = store.add(args.name, args.role, _password(args))
                print(f"added {user.name} ({user.role}) to {args.users}")
            case "passwd":
                existing = store.get(args.name)
                if existing is None:
                    raise UserFileError(str(args.users), f"no user {args.name!r}")
                store.add(args.name, existing.role, _password(args), replace=True)
                print(f"password of {args.name} changed")
            case "role":
                user = store.set_role(args.name, args.role)
                print(f"{user.name} is now {user.role}")
            case "remove":
                store.remove(args.name)
                print(f"removed {args.name}")
            case "list":
                for user in sorted(store.users().values(), key=lambda u: u.name):
                    print(f"{user.name}\t{user.role}")
    except (UserFileError, EOFError) as err:
        print(f"rig-ground user: {err}", file=sys.stderr)
        return 2
    return 0
