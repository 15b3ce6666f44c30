"""``rig-control install-service``: put an installed package in place as a systemd service.

    rig-control install-service [--dry-run] [--root DIR] [--config-dir /etc/regolith-rig]
        [--state-dir /var/lib/regolith-rig] [--unit-dir /etc/systemd/system]
        [--user rig] [--group dialout] [--port DEVICE] [--broker URL] [--rig-id rig-1]

Theory of operation
-------------------
The service runs the ``rig-control`` console script of the package this command
belongs to (the one next to the running interpreter: a virtualenv's ``bin/``), never
a checkout. The command writes, each path under ``--root`` (default ``/``; another
root builds an image or a test tree):

* the unit ``<unit-dir>/rig-control.service`` (always rewritten: it is ours);
* ``<config-dir>/control.toml``, ``mission.toml`` and ``rig-control.env`` (the
  serial port and broker URL, which may hold the broker password: mode 0600, read
  by systemd before it drops privileges), each only if missing: an operator's edits
  are never overwritten;
* the rover's ledger key ``<config-dir>/keys/<rig-id>.key`` if missing;
* the state directory ``<state-dir>`` (outbox, replay counters, ledger).

The default configuration fails closed: ``[security]`` is on with no station key,
so the rover accepts no ground command until one is added (docs/deploy.md). Running
as root, the state directory and the rover key are given to ``--user`` when that
user exists; otherwise the command says what is left to do. ``--dry-run`` prints
the plan and touches nothing. Nothing is started: ``systemctl`` is the operator's.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
import sysconfig
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TextIO

__all__ = ["ServicePlan", "Step", "StepKind", "execute", "main", "plan", "register",
           "render_unit"]

UNIT_NAME = "rig-control.service"

UNIT_TEMPLATE = """\
# systemd unit for the rig controller on the rover computer, as written by
# `rig-control install-service` (this is its output for the default paths and a
# package installed in /opt/regolith-rig/venv; docs/deploy.md).
#
# Type=notify: rig-control sends READY=1 once the firmware link is up, and
# WATCHDOG=1 from the control loop itself (every WatchdogSec/2), so a hung
# loop -- not only a dead process -- gets the service restarted. If the
# controller dies, the firmware's own 250 ms watchdog has already stopped
# the motors; after the restart the rig comes back IDLE and needs a new,
# acknowledged "arm" from the ground.
[Unit]
Description=Regolith rig controller
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
# RIG_PORT and RIG_BROKER (the broker URL may carry the rover's password)
EnvironmentFile={config_dir}/rig-control.env
ExecStart={exec_path} run \\
    --port ${{RIG_PORT}} \\
    --broker ${{RIG_BROKER}} \\
    --config {config_dir}/control.toml \\
    --mission {config_dir}/mission.toml
WorkingDirectory={state_dir}
WatchdogSec=2s
TimeoutStartSec=30s
TimeoutStopSec=10s
KillSignal=SIGTERM
Restart=on-failure
RestartSec=2s
User={user}
Group={group}
# real-time-ish scheduling for the control loop; keep the rest of the box usable
Nice=-10
CPUSchedulingPolicy=fifo
CPUSchedulingPriority=20
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths={state_dir}
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""

CONFIG_TEMPLATE = """\
# rig-control configuration (docs/control.md lists every key and its default).
# Written by `rig-control install-service`; edit freely, it is never overwritten.

[ground]
rig_id = "{rig_id}"
outbox_path = "{state_dir}/outbox.db"

# The mission's progress across restarts (docs/control.md, "Restarts").
[mission]
state_path = "{state_dir}/mission.db"

# Signed ground commands (docs/commands.md). With no [security.keys.*] table the
# rover accepts no ground command at all: add each station's public key, printed
# by `rig-ground keygen NAME --role operator` on the ground station.
[security]
rover_key_file = "{config_dir}/keys/{rig_id}.key"
replay_db = "{state_dir}/replay.db"
ledger_path = "{state_dir}/ledger.jsonl"

# [security.keys.ops-1]
# public_key = "<64 hex>"
# role = "operator"
"""

MISSION_TEMPLATE = """\
# Mission plan (docs/control.md, "Mission plan"). Written by `rig-control
# install-service` as an example; replace it with the site's plan.
name = "first-light"

[dump]
x = 0.0
y = 0.0

[[site]]
name = "A"
x = 2.5
y = 0.0
target_kg = 45.0
max_cycles = 4
"""

ENV_TEMPLATE = """\
# Read by systemd for rig-control.service (mode 0600: the broker URL may hold a
# password, mqtt://USER:PASSWORD@HOST:PORT or mqtts://...:8883).
RIG_PORT={port}
RIG_BROKER={broker}
"""


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """Where everything goes; paths are as the running system sees them (no root)."""

    exec_path: Path
    config_dir: Path = Path("/etc/regolith-rig")
    state_dir: Path = Path("/var/lib/regolith-rig")
    unit_dir: Path = Path("/etc/systemd/system")
    user: str = "rig"
    group: str = "dialout"
    port: str = "/dev/serial/by-id/rig-firmware"
    broker: str = "mqtt://ground-relay:1883"
    rig_id: str = "rig-1"


class StepKind(Enum):
    DIR = "mkdir"
    FILE = "write"
    KEY = "keygen"  # the rover's key pair (``<rig-id>.key`` and ``.pub``)


@dataclass(frozen=True, slots=True)
class Step:
    """One thing to do."""

    kind: StepKind
    path: Path  # as the running system sees it
    mode: int
    text: str = ""
    replace: bool = False  # a file: rewrite it if present (only the unit)
    owned: bool = False  # give it to the service user


def render_unit(p: ServicePlan) -> str:
    return UNIT_TEMPLATE.format(exec_path=p.exec_path, config_dir=p.config_dir,
                                state_dir=p.state_dir, user=p.user, group=p.group)


def plan(p: ServicePlan) -> list[Step]:
    fields = {"config_dir": p.config_dir, "state_dir": p.state_dir, "rig_id": p.rig_id,
              "port": p.port, "broker": p.broker}
    keys = p.config_dir / "keys"
    return [
        Step(StepKind.DIR, p.config_dir, 0o755),
        Step(StepKind.FILE, p.config_dir / "control.toml", 0o644, CONFIG_TEMPLATE.format(**fields)),
        Step(StepKind.FILE, p.config_dir / "mission.toml", 0o644, MISSION_TEMPLATE),
        Step(StepKind.FILE, p.config_dir / "rig-control.env", 0o600, ENV_TEMPLATE.format(**fields)),
        Step(StepKind.DIR, keys, 0o700, owned=True),
        Step(StepKind.KEY, keys / f"{p.rig_id}.key", 0o600, owned=True),
        Step(StepKind.DIR, p.state_dir, 0o750, owned=True),
        Step(StepKind.DIR, p.unit_dir, 0o755),
        Step(StepKind.FILE, p.unit_dir / UNIT_NAME, 0o644, render_unit(p), replace=True),
    ]


def _owner(user: str) -> tuple[int, int] | None:
    """(uid, gid) to give the service's files to, or None when we cannot (not root, or
    no such user yet)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _apply(step: Step, target: Path, rig_id: str) -> None:
    if step.kind is StepKind.DIR:
        target.mkdir(mode=step.mode, parents=True, exist_ok=True)
        target.chmod(step.mode)
    elif step.kind is StepKind.KEY:
        from telemetry.contract.keys import generate, write_key_files

        write_key_files(generate(rig_id), target.parent)
    else:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, step.mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(step.text)
        target.chmod(step.mode)


def execute(steps: list[Step], p: ServicePlan, *, root: Path, dry_run: bool,
            out: TextIO) -> list[str]:
    """Carry out (or, with ``dry_run``, only describe) *steps* under *root*. Returns what
    is left for the operator to do. Raises ``OSError`` when a write fails."""
    owner = _owner(p.user)
    todo: list[str] = []
    for step in steps:
        target = root / step.path.relative_to("/")
        exists = target.exists()
        acts = not exists or step.replace
        verb = step.kind.value if acts else (
            "exists" if step.kind is StepKind.DIR else "keep (exists)")
        print(f"{'would ' if dry_run and acts else ''}{verb} {target} ({step.mode:04o})",
              file=out)
        if dry_run or not acts:
            continue
        _apply(step, target, p.rig_id)
        if step.owned and owner is not None:
            os.chown(target, *owner)
            if step.kind is StepKind.KEY:
                os.chown(target.with_suffix(".pub"), *owner)
        elif step.owned:
            todo.append(f"chown {p.user} {step.path}")
    return todo


def installed_script() -> Path:
    """The ``rig-control`` console script of the running interpreter's environment."""
    scripts = Path(sysconfig.get_path("scripts"))
    return scripts / "rig-control"


def register(sub: argparse._SubParsersAction) -> None:
    d = ServicePlan(exec_path=Path("rig-control"))
    p = sub.add_parser("install-service", help="install the systemd unit, a default "
                       "configuration and the state directory (docs/deploy.md)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done")
    p.add_argument("--root", type=Path, default=Path("/"),
                   help="write everything under this directory (default /)")
    p.add_argument("--config-dir", type=Path, default=d.config_dir, help="(%(default)s)")
    p.add_argument("--state-dir", type=Path, default=d.state_dir, help="(%(default)s)")
    p.add_argument("--unit-dir", type=Path, default=d.unit_dir, help="(%(default)s)")
    p.add_argument("--user", default=d.user, help="the service's user (%(default)s)")
    p.add_argument("--group", default=d.group,
                   help="its group, which may open the serial port (%(default)s)")
    p.add_argument("--port", default=d.port, help="firmware serial port (%(default)s)")
    p.add_argument("--broker", default=d.broker, help="MQTT broker URL (%(default)s)")
    p.add_argument("--rig-id", default=d.rig_id, help="MQTT rig id (%(default)s)")
    p.add_argument("--exec", dest="exec_path", type=Path, default=None,
                   help=f"rig-control to run (default: the one installed beside this "
                        f"Python, {installed_script()})")


def _plan_from(args: argparse.Namespace) -> ServicePlan:
    for name in ("config_dir", "state_dir", "unit_dir"):
        if not getattr(args, name).is_absolute():
            raise ValueError(f"--{name.replace('_', '-')}: expected an absolute path, "
                             f"got {getattr(args, name)}")
    exec_path = args.exec_path or installed_script()
    if not exec_path.is_absolute() or not exec_path.is_file():
        raise ValueError(f"--exec: expected the path of an installed rig-control, "
                         f"got {exec_path} (not an existing absolute path)")
    return ServicePlan(exec_path=exec_path, config_dir=args.config_dir,
                       state_dir=args.state_dir, unit_dir=args.unit_dir, user=args.user,
                       group=args.group, port=args.port, broker=args.broker,
                       rig_id=args.rig_id)


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Exit status: 0 done, 2 bad arguments, 1 a write failed."""
    try:
        p = _plan_from(args)
    except ValueError as err:
        print(f"rig-control install-service: {err}", file=sys.stderr)
        return 2
    try:
        todo = execute(plan(p), p, root=args.root, dry_run=args.dry_run, out=out)
    except OSError as err:
        print(f"rig-control install-service: {err}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"\nthe unit would read:\n{render_unit(p)}", file=out)
        return 0
    print("\nnext:", file=out)
    if _owner(p.user) is None:
        print(f"  create the user if needed: useradd --system --gid {p.group} "
              f"--home-dir {p.state_dir} --no-create-home {p.user}", file=out)
    for line in todo:
        print(f"  {line}", file=out)
    print(f"  edit {p.config_dir}/rig-control.env (port, broker) and "
          f"{p.config_dir}/control.toml (station keys)", file=out)
    print("  systemctl daemon-reload && systemctl enable --now rig-control", file=out)
    return 0
