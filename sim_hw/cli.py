"""``rig-sim``: run the simulated rig behind a pty, a TCP port or a serial device.

Prints exactly one line ``READY <url>`` on stdout once the port is open (the
pty path or symlink, ``socket://127.0.0.1:PORT``, or the device), then runs
until SIGINT/SIGTERM (or ``--duration``), closes the port, removes the
symlink and exits 0. Logging goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from .channels import SENSOR_PROFILES
from .errors import SimError
from .plant_config import SoilConfig
from .ports import PortSpec, PtySpec, SerialSpec, TcpSpec
from .rig import Rig, RigConfig
from .scenario import describe_kinds, load_scenario, parse_fault

log = logging.getLogger("sim_hw")

_EPILOG = f"""\
time: --time-scale K runs the physics and the sample generation K times faster
  than wall time: batch timestamps (t0_us), event timestamps and fault times
  are SIMULATED time (the handshake's sample_rate_hz is the simulated rate).
  Everything on the link stays on WALL time, because the controller's link
  runs on wall time: heartbeats and the heartbeat clock, command and setpoint
  deadlines, and the firmware watchdog. Fault durations are simulated seconds.

faults: KIND[@TIME][:KEY=VALUE,...], TIME in simulated seconds since start
  (default 0), e.g. rock@12.5:torque=300  stuck@3:channel=drum_speed,duration=5
  corrupt@2:rate=0.001,duration=3,direction=both  disconnect@4:duration=2
  A --scenario file holds the same as TOML tables:
    [[fault]]
    kind = "rock"
    at = 12.5
    torque = 300.0
  kinds and keys (defaults):
{describe_kinds()}
  channels: drum_current drum_speed cut_depth arm_current bucket_load pitch roll
    motor_temp battery_voltage battery_current vibration arm_position x y heading
    battery_soc

soil: --soil density=1500,cohesion=500,gravity=1.62,rocks_per_m3=30,rock_torque=30,
  rock_sigma=0.8,rock_angle=1.5,rock_shift_time=4,cohesion_factor=10,weight_factor=20,
  speed_factor=0.2 (the defaults), or a preset, optionally changed:
  --soil loose | compacted | rocky[,KEY=VALUE...]
"""


def _tcp(text: str) -> TcpSpec:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return TcpSpec(host, int(port))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rig-sim", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulated regolith-excavation rig: speaks the rig firmware protocol "
                    "over a real serial line, with physics and fault injection.",
        epilog=_EPILOG)
    port = p.add_argument_group("port (choose one; default --pty)")
    ex = port.add_mutually_exclusive_group()
    ex.add_argument("--pty", action="store_true",
                    help="expose a pseudo-terminal; READY prints its path (without --link, a "
                         "disconnect fault re-opens the pty under a new path)")
    ex.add_argument("--tcp", type=_tcp, metavar="HOST:PORT",
                    help="TCP server for pyserial's socket://HOST:PORT (port 0 picks a free "
                         "one; READY prints the URL); one client at a time, a new one "
                         "replaces the old")
    ex.add_argument("--serial", metavar="DEVICE",
                    help="a real serial port, for hardware-in-the-loop (any pyserial URL)")
    port.add_argument("--link", metavar="PATH",
                      help="with --pty: a stable symlink to the pty, kept across simulated "
                           "cable pulls (like /dev/serial/by-id); removed on exit")
    port.add_argument("--baud", type=int, default=3_000_000, metavar="N",
                      help="with --serial: baud rate (default %(default)s)")
    sim = p.add_argument_group("simulation")
    sim.add_argument("--seed", type=int, default=0,
                     help="random seed: terrain, rocks, sensor noise, line faults "
                          "(default %(default)s)")
    sim.add_argument("--rate", type=int, default=1000, metavar="HZ",
                     help="raw sample rate of the fast stream (12 channels), simulated Hz "
                          "(default %(default)s; 10000 supported)")
    sim.add_argument("--batch-ms", type=float, default=5.0, metavar="MS",
                     help="simulated ms of samples per SAMPLE_BATCH (default %(default)s); "
                          "rate x batch must be a whole number of samples")
    sim.add_argument("--time-scale", type=float, default=1.0, metavar="K",
                     help="run physics and samples K times faster than wall time; link "
                          "timing stays on wall time (see below) (default %(default)s)")
    sim.add_argument("--plant-rate", type=int, default=1000, metavar="HZ",
                     help="physics step rate, simulated Hz (default %(default)s)")
    sim.add_argument("--watchdog-ms", type=int, default=None, metavar="MS",
                     help="firmware watchdog: stop the motors when nothing arrives from the "
                          "controller for this long (wall ms). Default 250, and then the "
                          "controller's HELLO watchdog_ms applies; given here, it is fixed "
                          "(PARAM_SET can still change it)")
    sim.add_argument("--soil", default="", metavar="KEY=VALUE,...",
                     help="soil properties (see below)")
    sim.add_argument("--sensors", choices=SENSOR_PROFILES, default="noisy",
                     help="sensor profile: noisy (Gaussian noise, spikes, ripple; announces "
                          "each channel's noise floor) or realistic (quantisation only: counts "
                          "sit still while nothing moves; noise floors 0) (default %(default)s)")
    sim.add_argument("--duration", type=float, default=None, metavar="S",
                     help="exit by itself after this many wall seconds")
    flt = p.add_argument_group("faults")
    flt.add_argument("--scenario", metavar="FILE.toml", help="faults to inject (TOML)")
    flt.add_argument("--fault", action="append", default=[], metavar="SPEC",
                     help="a fault to inject, e.g. rock@12.5:torque=300 (repeatable)")
    flt.add_argument("--fault-log", metavar="FILE",
                     help="append one JSON line per injected fault (kind, params, simulated "
                          "and wall time)")
    flt.add_argument("--truth-log", metavar="FILE",
                     help="append the simulator's truth as JSON lines: one per dump (true "
                          "mass into the hopper), totals when it stops; for summaries and "
                          "benchmarks, never sent to the controller")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more logging on stderr (-v info, -vv debug)")
    return p


def config_from_args(args: argparse.Namespace) -> RigConfig:
    """RigConfig from parsed arguments. Raises ``SimError`` subclasses on bad values."""
    spec: PortSpec
    if args.tcp is not None:
        spec = args.tcp
    elif args.serial is not None:
        spec = SerialSpec(args.serial, args.baud)
    else:
        spec = PtySpec(args.link)
    faults = load_scenario(args.scenario) if args.scenario else ()
    faults += tuple(parse_fault(s) for s in args.fault)
    return RigConfig(
        port=spec, seed=args.seed, sample_rate_hz=args.rate, batch_ms=args.batch_ms,
        time_scale=args.time_scale, watchdog_ms=args.watchdog_ms,
        plant_rate_hz=args.plant_rate, faults=faults, fault_log=args.fault_log,
        truth_log=args.truth_log, soil=SoilConfig.parse(args.soil), sensors=args.sensors)


async def _run(config: RigConfig, duration: float | None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rig = Rig(config)
    try:
        url = await rig.start()
    except (OSError, SimError) as err:
        print(f"rig-sim: {err}", file=sys.stderr)
        await rig.stop()
        return 1
    print(f"READY {url}", flush=True)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                await stop.wait()
    finally:
        await rig.stop()
        log.info("stopped: %s", rig.stats)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.link and (args.tcp or args.serial):
        parser.error("--link goes with --pty")
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = config_from_args(args)
    except SimError as err:
        print(f"rig-sim: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_run(config, args.duration))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
