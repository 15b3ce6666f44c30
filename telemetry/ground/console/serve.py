"""``rig-ground serve``: the web console (Starlette on uvicorn, WebSocket push).

    rig-ground --broker mqtt://127.0.0.1:1883 serve --users users.json --key ops-1.key \\
        [--limits limits.toml] [--site-plan rover.toml] [--rover-key rover.pub] \\
        [--recordings runs/] [--host 127.0.0.1] [--port 8080] [--tls-cert C --tls-key K]

Binds 127.0.0.1 unless told otherwise and warns loudly when bound to another
address without TLS (passwords and session cookies would cross the network in
clear). Prints ``READY http://HOST:PORT/`` once it listens (``--port 0`` picks a
free port). SIGINT/SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

from telemetry.contract.errors import KeyFileError, SitePlanError
from telemetry.contract.keys import load_public_key
from telemetry.contract.site_plan import SitePlan, site_plan_from_dict
from telemetry.ground.client import GroundClient
from telemetry.ground.console.body_limit import WS_MAX_BYTES
from telemetry.ground.console.context import ConsoleConfig
from telemetry.ground.console.login_guard import LoginGuardConfig
from telemetry.ground.console.sessions import load_secret
from telemetry.ground.console.users import DEFAULT_USERS
from telemetry.ground.errors import GroundUsageError
from telemetry.ground.limits import load_limits
from telemetry.ground.rig_keys import rig_keys_from_args
from telemetry.mqtt.adapter import MqttSettings

__all__ = ["build_config", "is_loopback", "plaintext_warning", "register", "serve"]

log = logging.getLogger(__name__)

PLAINTEXT_WARNING = """
************************************************************************
* WARNING: the ground console is listening on {host} WITHOUT TLS.
* Passwords and session cookies cross the network in clear text, and
* anyone on the path can steal a session and command the rig.
* Use --tls-cert/--tls-key, or bind 127.0.0.1 and use an SSH tunnel.
************************************************************************
"""


def plaintext_warning(host: str, *, tls: bool) -> str | None:
    """The banner to print when the console is reachable from elsewhere in clear text."""
    if tls or is_loopback(host):
        return None
    return PLAINTEXT_WARNING.format(host=host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="the web console (live plots, alarms, commands...)")
    p.add_argument("--users", type=Path, default=Path(DEFAULT_USERS),
                   help="user file (%(default)s; create users with `rig-ground user add`)")
    p.add_argument("--key", type=Path, help="station secret key: commands are signed with it")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (%(default)s)")
    p.add_argument("--port", type=int, default=8080, help="port (%(default)s; 0: any free)")
    p.add_argument("--tls-cert", type=Path, help="certificate (PEM) to serve HTTPS")
    p.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    p.add_argument("--limits", type=Path, help="red/yellow limits (TOML) over the defaults")
    p.add_argument("--site-plan", type=Path,
                   help="site plan for the map and quotas (TOML; [site_plan] of the rover config)")
    p.add_argument("--rover-key", help="rover public key (.pub file or 64 hex) to verify "
                                       "the ledger")
    p.add_argument("--recordings", type=Path, help="directory of recordings (*.db) to replay")
    p.add_argument("--audit-log", type=Path, help="append every command and alarm "
                                                  "acknowledgement here (JSON lines)")
    p.add_argument("--secret-file", type=Path,
                   help="cookie signing secret (created if missing; default: random). "
                        "Sessions live in memory, so a restart logs everyone out; with a "
                        "secret file, browsers keep their device cookies (login lockouts)")
    p.add_argument("--command-timeout", type=float, default=10.0,
                   help="seconds to wait for a command's ack (%(default)s)")
    p.add_argument("--silent-after", type=float, default=10.0,
                   help="seconds without a message from an online rig before its alarms go "
                        "stale and it raises rig:offline (%(default)s)")
    defaults = LoginGuardConfig()
    p.add_argument("--login-address-burst", type=int, default=defaults.address_burst,
                   help="login attempts per client address before it is slowed to "
                        f"{defaults.address_per_s * 60:g} a minute (%(default)s; browsers "
                        "that logged in before are exempt)")
    p.add_argument("--login-user-failures", type=int, default=defaults.user_failures,
                   help="failed logins for one name before it is locked for "
                        f"{defaults.lockout_s:g} s, doubling to {defaults.lockout_max_s:g} s "
                        "(%(default)s; browsers that logged in before are exempt)")
    p.set_defaults(func=_main)


def _site_plan(path: Path | None) -> SitePlan | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise GroundUsageError(f"--site-plan {path}: {err}") from err
    try:
        return site_plan_from_dict(data.get("site_plan", data))
    except SitePlanError as err:
        raise GroundUsageError(f"--site-plan {path}: {err}") from err


def build_config(args: argparse.Namespace) -> ConsoleConfig:
    """Validate the options; raises ``GroundUsageError`` naming the bad one."""
    if bool(args.tls_cert) != bool(args.tls_key):
        raise GroundUsageError("--tls-cert and --tls-key go together")
    for option, value in (("--login-address-burst", args.login_address_burst),
                          ("--login-user-failures", args.login_user_failures)):
        if value < 1:
            raise GroundUsageError(f"{option}: expected at least 1, got {value}")
    plan = _site_plan(args.site_plan)
    rover_key = None
    if args.rover_key:
        try:
            _, rover_key = load_public_key(args.rover_key)
        except (KeyFileError, ValueError) as err:
            raise GroundUsageError(f"--rover-key: {err}") from err
    if args.recordings is not None and not args.recordings.is_dir():
        raise GroundUsageError(f"--recordings {args.recordings}: not a directory")
    return ConsoleConfig(
        users_path=args.users, station_key=args.key, limits_path=args.limits, site_plan=plan,
        rover_key=rover_key,
        quotas_kg={s.name: s.quota_kg for s in plan.sites} if plan else None,
        recordings=args.recordings, audit_log=args.audit_log, tls=bool(args.tls_cert),
        command_timeout_s=args.command_timeout,
        login_limits=LoginGuardConfig(address_burst=args.login_address_burst,
                                      user_failures=args.login_user_failures))


async def serve(args: argparse.Namespace, settings: MqttSettings) -> None:
    import uvicorn

    from telemetry.ground.console.app import build_app, build_console

    config = build_config(args)
    if not config.users_path.exists():
        print(f"rig-ground serve: {config.users_path} does not exist yet: add a user with "
              f"`rig-ground user add NAME --role operator --users {config.users_path}`",
              file=sys.stderr)
    client = GroundClient(settings, args.rig, key=config.station_key, prefix=args.prefix,
                          limits=load_limits(config.limits_path),
                          silent_after_s=args.silent_after,
                          rig_keys=rig_keys_from_args(args),
                          drop_unverified=args.unverified == "drop")
    console = build_console(config, client, secret=load_secret(args.secret_file))
    server = uvicorn.Server(uvicorn.Config(
        build_app(console), host=args.host, port=args.port, ws="wsproto", lifespan="on",
        ws_max_size=WS_MAX_BYTES, h11_max_incomplete_event_size=16 * 1024,
        log_level="warning", access_log=False, server_header=False,
        ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
        ssl_keyfile=str(args.tls_key) if args.tls_key else None))
    warning = plaintext_warning(args.host, tls=config.tls)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
        log.warning("console bound to %s without TLS", args.host)

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        sock: Any = server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        scheme = "https" if config.tls else "http"
        print(f"READY {scheme}://{host}:{port}/", flush=True)

    announcer = asyncio.create_task(announce(), name="console-announce")
    # uvicorn stops gracefully on SIGTERM, then re-raises the signal to whatever handler
    # was there before it: make that a no-op so a requested stop exits with status 0
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        await server.serve()
    finally:
        announcer.cancel()
        signal.signal(signal.SIGTERM, previous)


def _main(args: argparse.Namespace, settings: MqttSettings) -> int:
    try:
        asyncio.run(serve(args, settings))
    except (GroundUsageError, KeyFileError) as err:
        print(f"rig-ground serve: {err}", file=sys.stderr)
        return 2
    return 0
