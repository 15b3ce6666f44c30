"""``rig-control``: run the controller on a rig, or the self-contained demo.

    rig-control run --port /dev/ttyUSB0 [--broker mqtt://ground:1883] [--config FILE]
                    [--mission FILE] [--autonomous]
    rig-control demo [--broker mqtt://...] [--time-scale 5] [--plot run.png]
    rig-control install-service [--dry-run] [--root DIR] ...   (docs/deploy.md)
    rig-control missions [--config FILE]

``run`` controls a real (or already running simulated) rig; without
``--autonomous`` motion waits for the ground's ``arm`` and ``start`` commands.
``demo`` starts the simulator on a pseudo-terminal with a time scale, runs a
full mission with a local operator (arm, start, clear faults), shows progress,
prints a summary and writes a PNG plot. ``missions`` lists the missions the
mission store (``mission.state_path``) kept: the active one and the history.
Exit status: 0 success, 1 mission not
completed, 2 bad configuration, 3 the rig could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import install_service
from .core.auto_operator import AutoOperator
from .core.config import ControllerConfig, load_config
from .core.errors import ConfigError, RigConnectionError
from .core.mission import DEFAULT_MISSION, MissionPlan, load_mission
from .demo.productivity import assess, read_truth_log, summary_rows
from .demo.sim_process import SimulatorError, SimulatorProcess
from .runtime.app import RigController, RunSummary
from .runtime.downlink_port import DownlinkPort
from .runtime.heap_trim import trim_heap_every
from .runtime.memory_probe import probe_config, run_probe
from .runtime.mission_store import MissionStore, MissionStoreError
from .runtime.sd_notify import SdNotifier
from .runtime.security_setup import build_security

if TYPE_CHECKING:
    from nacl.signing import SigningKey

log = logging.getLogger("control.cli")

DEMO_TIME_SCALE = 5.0
DEMO_RATE_HZ = 250.0
DEMO_SOIL = "compacted"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rig-control", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="control a rig on a serial port")
    run.add_argument("--port", required=True, help="device, pty path or socket://host:port")
    missions = sub.add_parser("missions", help="the missions the mission store kept")
    missions.add_argument("--config", help="controller TOML configuration")
    missions.add_argument("-v", "--verbose", action="count", default=0)
    demo = sub.add_parser("demo", help="simulated mission, summary and plot")
    demo.add_argument("--time-scale", type=float, default=DEMO_TIME_SCALE,
                      help=f"simulated seconds per wall second (default {DEMO_TIME_SCALE})")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--plot", default="rig-control-demo.png", help="PNG written at the end")
    demo.add_argument("--fault", action="append", default=[],
                      help="simulator fault spec (repeatable), e.g. rock@40:torque=300")
    demo.add_argument("--no-ui", action="store_true", help="no live display (logs only)")
    demo.add_argument("--sensors", choices=("noisy", "realistic"), default="noisy",
                      help="simulator sensor profile (rig-sim --sensors): realistic is "
                           "quantisation only, counts that sit still while nothing moves")
    demo.add_argument("--soil", default=DEMO_SOIL,
                      help=f"simulator soil: loose, compacted, rocky or KEY=VALUE,... "
                           f"(rig-sim --soil; default {DEMO_SOIL})")
    demo.add_argument("--max-wall", type=float, default=110.0, help="give up after (s)")
    for sp in (run, demo):
        sp.add_argument("--broker", help="mqtt://host:port (telemetry and ground commands)")
        sp.add_argument("--config", help="controller TOML configuration")
        sp.add_argument("--mission", help="mission TOML plan")
        sp.add_argument("--rate", type=float, help="control-loop rate, Hz (loop.rate_hz)")
        sp.add_argument("-v", "--verbose", action="count", default=0)
    run.add_argument("--autonomous", action="store_true",
                     help="arm and start without ground commands (local operator)")
    run.add_argument("--time-scale", type=float, help="plant seconds per wall second")
    install_service.register(sub)
    return p


def _load(args: argparse.Namespace, **loop: Any) -> tuple[ControllerConfig, MissionPlan]:
    overrides = {k: v for k, v in loop.items() if v is not None}
    if args.rate is not None:
        overrides["rate_hz"] = args.rate
    cfg = load_config(args.config, loop=overrides)
    mission = load_mission(args.mission) if args.mission else DEFAULT_MISSION
    return cfg, mission


async def _open_downlink(cfg: ControllerConfig, broker: str | None,
                         outbox: str) -> tuple[DownlinkPort | None, contextlib.AsyncExitStack]:
    stack = contextlib.AsyncExitStack()
    try:
        from control.core.param_report import param_table
        from telemetry.contract.status_info import RigInfo
        from telemetry.rover.downlink import Downlink, DownlinkConfig

        dl = await stack.enter_async_context(Downlink(DownlinkConfig(
            rig_id=cfg.ground.rig_id, topic_prefix=cfg.ground.topic_prefix,
            outbox_path=outbox, broker_url=broker,
            link_loss_s=cfg.ground.link_loss_wall_s, signing_key=_rover_signing_key(cfg),
            free_space_floor_bytes=int(cfg.ground.outbox_free_space_floor_mb * 1e6),
            storage_memory_bytes=int(cfg.ground.outbox_memory_mb * 2**20))))
        dl.publish_birth(RigInfo(software="rig-control", version="0.1.0",
                                 strategy=cfg.strategy.kind.value, params=param_table(cfg)))
        return dl, stack
    except Exception as err:
        if broker:
            raise
        log.warning("no downlink (%s); continuing without telemetry", err)
        return None, stack


def _rover_signing_key(cfg: ControllerConfig) -> SigningKey | None:
    """The rover's key (``[security] rover_key_file``): it signs the ledger and the downlink's
    state, events, acks and status. ``None`` without a ``[security]`` table."""
    if not cfg.security:
        return None
    from control.security.security_config import security_config_from_dict
    from telemetry.contract.keys import load_secret_key

    return load_secret_key(security_config_from_dict(cfg.security).rover_key_file).signing_key


def _install_signals(ctl: RigController) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, ctl.stop)


async def _run(args: argparse.Namespace) -> int:
    cfg, mission = _load(args, time_scale=args.time_scale)
    security = build_security(cfg)
    dl, stack = await _open_downlink(cfg, args.broker, cfg.ground.outbox_path)
    stack.callback(security.close)
    store = _open_store(cfg)
    if store is not None:
        stack.callback(store.close)
    async with stack:
        ctl = RigController(cfg, args.port, mission, downlink=dl,
                            authenticator=security.authenticator,
                            site_rules=security.site_rules, ledger=security.ledger,
                            mission_store=store,
                            operator=AutoOperator() if args.autonomous else None,
                            notifier=SdNotifier(), record_every=10,
                            # nothing plots a service's run: recent history only
                            record_rows=2_000, record_events=200)
        _install_signals(ctl)
        probe = probe_config()  # opt-in, for soaks (control/runtime/memory_probe.py)
        helpers = [asyncio.create_task(trim_heap_every(cfg.loop.heap_trim_s), name="heap-trim")]
        if probe is not None:
            helpers.append(asyncio.create_task(run_probe(probe), name="memory-probe"))
        try:
            summary = await ctl.run()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
    print_summary(summary, summary_rows(assess(summary.mass_dumped_kg, summary.energy_j,
                                               summary.plant_s, ctl.core.mass.dumps,
                                               dumps_total=ctl.core.mass.dumps_total)))
    return 0


def mission_state_path(cfg: ControllerConfig) -> Path | None:
    """``mission.state_path``; a relative one is beside the outbox (docs/control.md,
    "Restarts"), not in whatever directory the service was started from."""
    if not cfg.mission.state_path:
        return None
    path = Path(cfg.mission.state_path)
    return path if path.is_absolute() else Path(cfg.ground.outbox_path).parent / path


def _open_store(cfg: ControllerConfig) -> MissionStore | None:
    path = mission_state_path(cfg)
    if path is None:
        return None
    try:
        return MissionStore(str(path), time.time)
    except MissionStoreError as err:
        raise ConfigError("mission.state_path", str(err)) from err


def _missions(args: argparse.Namespace) -> int:
    store = _open_store(load_config(args.config))
    if store is None:
        print("rig-control: mission.state_path is '': no missions are kept")
        return 0
    try:
        for began, ended, rec in store.history():
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(began))
            state = "active" if ended is None else "ended " + time.strftime(
                "%Y-%m-%d %H:%M:%S", time.gmtime(ended))
            sites = ", ".join(f"{s.name} {s.delivered_kg:.1f} kg ({s.cycles} digs)"
                              for s in rec.sites)
            print(f"{rec.mission_id}  plan {rec.plan_name} {rec.plan_hash[:12]}  began {when} "
                  f"UTC  {state}  {rec.phase}  {sites}" + ("  complete" if rec.complete else ""))
    finally:
        store.close()
    return 0


async def _demo(args: argparse.Namespace) -> int:
    cfg, mission = _load(args, time_scale=args.time_scale, rate_hz=DEMO_RATE_HZ
                         if args.rate is None else None)
    with tempfile.TemporaryDirectory(prefix="rig-demo-") as tmp:
        truth_log = Path(tmp) / "truth.jsonl"
        sim_args = ["--pty", "--link", str(Path(tmp) / "rig.pty"), "--seed", str(args.seed),
                    "--time-scale", str(args.time_scale), "--soil", args.soil,
                    "--sensors", args.sensors,
                    "--truth-log", str(truth_log)]
        for spec in args.fault:
            sim_args += ["--fault", spec]
        # a cold start on a small board (or under emulation: make arm64-check) can take
        # longer than the default 15 s to import NumPy and say READY
        async with SimulatorProcess(sim_args, start_timeout=60.0) as sim:
            dl, stack = await _open_downlink(cfg, args.broker, str(Path(tmp) / "outbox.db"))
            async with stack:
                security = build_security(cfg)
                stack.callback(security.close)
                ctl = RigController(cfg, sim.url, mission, downlink=dl,
                                    authenticator=security.authenticator,
                                    site_rules=security.site_rules, ledger=security.ledger,
                                    operator=AutoOperator(), record_every=2)
                _install_signals(ctl)
                ui = None if args.no_ui else asyncio.create_task(_live(ctl), name="ui")
                try:
                    summary = await ctl.run(until_complete=True, max_wall_s=args.max_wall)
                finally:
                    if ui is not None:
                        ui.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await ui
        # the simulator has stopped: its truth log is complete (never seen by the core)
        truth = read_truth_log(truth_log)
    print_summary(summary, summary_rows(assess(summary.mass_dumped_kg, summary.energy_j,
                                               summary.plant_s, ctl.core.mass.dumps, truth,
                                               ctl.core.mass.dumps_total)))
    from .demo.plot import write_plot

    path = write_plot(ctl.record, args.plot, f"rig-control demo: mission {mission.name}, "
                                             f"time scale {args.time_scale:g}")
    print(f"plot written to {path}")
    return 0 if summary.mission_complete else 1


async def _live(ctl: RigController) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    console = Console()

    def render() -> Table:
        snap = ctl.core.snapshot()
        t = Table(title=f"rig-control  mode: [bold]{snap.mode}[/bold] {snap.phase}",
                  show_header=True, expand=False)
        t.add_column("site")
        t.add_column("delivered / target kg", justify="right")
        t.add_column("cycles", justify="right")
        t.add_column("note")
        for s in snap.mission.sites if snap.mission else ():
            t.add_row(s.name, f"{s.delivered_kg:.1f} / {s.target_kg or 0:.0f}",
                      str(s.cycles), s.abandoned)
        t.caption = (f"bucket {snap.bucket_kg} kg  depth {snap.cut_depth_m} m  "
                     f"drum {snap.drum_current_a} A {snap.drum_speed_rad_s} rad/s  "
                     f"tilt {snap.tilt_deg} deg  at ({snap.x_m}, {snap.y_m})")
        return t

    with Live(render(), console=console, refresh_per_second=4, transient=False) as live:
        seen = 0
        while True:
            await asyncio.sleep(0.25)
            new, seen = ctl.record.events.since(seen)
            for when, severity, text in new:
                style = {"warning": "yellow", "alarm": "red", "critical": "bold red"}.get(
                    severity, "dim")
                live.console.print(f"[{style}]t={when:8.1f}s  {text}[/{style}]")
            live.update(render())


def _causes(counts: dict[str, int]) -> str:
    """``" (over_current 1, tilt 2)"``, or nothing when there were none."""
    if not counts:
        return ""
    return " (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"


def print_summary(s: RunSummary, extra: Sequence[tuple[str, str]] = ()) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="run summary", show_header=False)
    t.add_column("item")
    t.add_column("value", justify="right")
    lp = s.loop
    rows = [
        ("mission complete", str(s.mission_complete)),
        ("final mode", s.final_mode),
        ("mass excavated (dumped)", f"{s.mass_dumped_kg:.1f} kg"),
        ("dig/dump cycles", str(s.cycles)),
        ("faults handled", f"{s.faults_handled} (stalls {s.stalls}"
                           f"{_causes(s.stalls_by_cause)}, obstacles {s.obstacles}, "
                           f"interlock trips {s.interlock_trips}"
                           f"{_causes(s.interlock_trips_by_cause)}, link losses "
                           f"{s.link_losses}, e-stops {s.estops})"),
        ("energy used (battery)", f"{s.energy_j / 1000:.1f} kJ"),
        ("samples filtered", f"{s.samples_filtered:,} channel-samples"),
        ("duration", f"{s.wall_s:.1f} s wall, {s.plant_s:.0f} s simulated"),
        ("controller CPU", f"{s.cpu_s:.1f} s ({100 * s.cpu_s / max(s.wall_s, 1e-9):.0f} %)"),
        ("control loop", f"{lp['ticks']:.0f} ticks, {lp['missed']:.0f} missed; lateness p50 "
                         f"{lp['lateness_p50_ms']:.2f} / p99 {lp['lateness_p99_ms']:.2f} / max "
                         f"{lp['lateness_max_ms']:.2f} ms"),
        ("sensor-to-setpoint", f"p50 {lp['latency_p50_ms']:.2f} / p99 "
                               f"{lp['latency_p99_ms']:.2f} ms"),
        ("ground commands", f"{s.commands_accepted} accepted, {s.commands_rejected} rejected"),
        ("link", ", ".join(f"{k} {v}" for k, v in s.link.items())),
    ]
    for k, v in (*rows, *extra):
        t.add_row(k, v)
    if s.mission:
        for site in s.mission["sites"]:
            t.add_row(f"site {site['name']}", f"{site['delivered_kg']:.1f} / "
                      f"{site['target_kg']:.0f} kg in {site['cycles']} cycles"
                      + (f" ({site['abandoned']})" if site["abandoned"] else ""))
    Console().print(t)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "install-service":
        return install_service.main(args)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.cmd == "missions":
            return _missions(args)
        return asyncio.run(_demo(args) if args.cmd == "demo" else _run(args))
    except ConfigError as err:
        print(f"rig-control: configuration error: {err}", file=sys.stderr)
        return 2
    except (RigConnectionError, SimulatorError) as err:
        print(f"rig-control: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
