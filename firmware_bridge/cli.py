"""``rig-bridge``: the firmware link's command-line tools.

* ``rig-bridge selftest``: starts the loopback firmware on a pseudo-terminal
  and exercises the real link end to end (handshake, acked commands,
  parameters, sample stream, injected loss, e-stop latch, cable pull and
  reconnect), printing a pass/fail line per check. Exit status 0 when all pass.
* ``rig-bridge probe URL``: connects to a rig (device path, pty or
  ``socket://host:port``), prints its handshake (firmware, channels, rates)
  and the link counters after ``--seconds`` of listening.
* ``rig-bridge conformance URL``: the protocol conformance harness (checks of
  docs/protocol.md, a table of results with measured timing against each
  bound, ``--json FILE``); exit status 1 on any failure. Checks that move the
  rig run only with ``--allow-motion``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from .bridge import Bridge, BridgeConfig, Connected, Disconnected
from .conformance import (
    CHECKS,
    MOTION_WARNING,
    RunConfig,
    exit_code,
    format_table,
    run_conformance,
    to_json,
)
from .errors import BridgeError, CommandRejectedError
from .link import MessageReceived
from .loopback import LoopbackFirmware
from .messages import PROTOCOL_REVISION_TEXT, CommandCode, ResultStatus, SampleBatch


async def _wait_for(bridge: Bridge, kind: type, timeout: float) -> object:
    async with asyncio.timeout(timeout):
        async for ev in bridge.events():
            if isinstance(ev, kind):
                return ev
    raise AssertionError("unreachable")


async def selftest() -> int:
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        results.append((name, ok, detail))
        mark = "PASS" if ok else "FAIL"
        print(f"  [{mark}] {name}" + (f"  ({detail})" if detail else ""), flush=True)

    with tempfile.TemporaryDirectory(prefix="rig-bridge-") as tmp:
        fw = LoopbackFirmware(str(Path(tmp) / "tty"))
        await fw.start()
        print(f"loopback firmware on {fw.path} -> {fw.port.slave_path}")
        try:
            t0 = time.perf_counter()
            async with Bridge(fw.path, BridgeConfig(backoff_max=0.2)) as bridge:
                info = bridge.info
                assert info is not None
                check("handshake", True, f"{info.firmware_id} v{'.'.join(map(str, info.version))}"
                      f", {len(info.channels)} channels, {(time.perf_counter() - t0) * 1e3:.1f} ms")
                await bridge.command(CommandCode.ENABLE, (1,), until=ResultStatus.DONE)
                r = await bridge.command(CommandCode.STOW, until=ResultStatus.DONE)
                check("acked command", r.status is ResultStatus.DONE, r.status.name)
                await bridge.command(CommandCode.ENABLE, (0,), until=ResultStatus.DONE)
                v = await bridge.set_param(2, 30.0)
                check("parameter set/get", v == 30.0 and await bridge.get_param(2) == 30.0)
                n = 0
                async with asyncio.timeout(2):
                    async for ev in bridge.events():
                        if isinstance(ev, MessageReceived) and isinstance(ev.message, SampleBatch):
                            n += 1
                            if n == 50:
                                break
                check("sample stream", True, f"{n} batches, 0 gaps"
                      if bridge.link.counters().sample_gaps == 0 else "gaps seen")
                fw.drop_rx = 1
                r = await bridge.command(CommandCode.STOP)
                check("retransmit after loss", bridge.link.counters().retransmits >= 1,
                      f"{bridge.link.counters().retransmits} retransmission(s)")
                try:
                    await bridge.command(CommandCode.DUMP, ttl=-1)
                    check("expired command refused", False)
                except CommandRejectedError as err:
                    check("expired command refused", err.reason == "EXPIRED", str(err))
                await bridge.estop("selftest")
                try:
                    await bridge.command(CommandCode.ENABLE, (1,))
                    check("e-stop latched", False)
                except CommandRejectedError as err:
                    check("e-stop latched", err.reason == "ESTOP_LATCHED")
                await bridge.command(CommandCode.RESET_ESTOP)
                t1 = time.perf_counter()
                fw.pull_cable()
                await _wait_for(bridge, Disconnected, 1.0)
                t_lost = time.perf_counter() - t1
                fw.plug_cable()
                await _wait_for(bridge, Connected, 3.0)
                check("cable pull detected and reconnected", True,
                      f"lost after {t_lost * 1e3:.0f} ms, back after "
                      f"{(time.perf_counter() - t1) * 1e3:.0f} ms")
                c = bridge.link.counters()
                print(f"link counters: frames rx {c.frames_rx} tx {c.frames_tx}, crc errors "
                      f"{c.crc_errors}, framing errors {c.framing_errors}, retransmits "
                      f"{c.retransmits}, links lost {c.links_lost}")
        except (BridgeError, TimeoutError, AssertionError) as err:
            check("selftest", False, repr(err))
        finally:
            await fw.stop()
    failed = [r for r in results if not r[1]]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


async def probe(url: str, seconds: float, baud: int) -> int:
    try:
        async with Bridge(url, BridgeConfig(baudrate=baud)) as bridge:
            info = bridge.info
            assert info is not None
            print(f"firmware {info.firmware_id} v{'.'.join(map(str, info.version))}, boot "
                  f"{info.boot_id}, {info.sample_rate_hz} Hz raw, {info.batch_samples} "
                  f"samples/batch")
            for ch in info.channels:
                print(f"  ch{ch.channel_id:<3} stream {ch.stream_id} {ch.name:<16} {ch.unit:<6} "
                      f"scale {ch.scale:.6g} offset {ch.offset:.6g}")
            await asyncio.sleep(seconds)
            print(bridge.link.counters())
    except BridgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


async def conformance(config: RunConfig, json_path: str | None) -> int:
    if config.allow_motion:
        print(MOTION_WARNING, file=sys.stderr, flush=True)
    print(f"conformance of {config.url} against docs/protocol.md {PROTOCOL_REVISION_TEXT}",
          flush=True)
    try:
        results = await run_conformance(config)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    except BridgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(results))
    if json_path:
        Path(json_path).write_text(to_json(results, config) + "\n", encoding="utf-8")
    return exit_code(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rig-bridge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selftest", help="loopback self-test over a pseudo-terminal")
    p = sub.add_parser("probe", help="connect to a rig and print its handshake and counters")
    p.add_argument("url", help="/dev/ttyUSB0, a pty path or socket://host:port")
    p.add_argument("--seconds", type=float, default=2.0, help="how long to listen (default 2)")
    p.add_argument("--baud", type=int, default=3_000_000, help="baud rate (default 3000000)")
    c = sub.add_parser("conformance", help="protocol conformance harness (acting as the host)")
    c.add_argument("url", help="/dev/ttyUSB0, a pty path or socket://host:port")
    c.add_argument("--baud", type=int, default=3_000_000, help="baud rate (default 3000000)")
    c.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    c.add_argument("--allow-motion", action="store_true",
                   help="also run the checks that ENABLE the motors and spin the drum")
    c.add_argument("--only", action="append", default=[], metavar="CHECK",
                   help="run only this check (repeatable): " + ", ".join(
                       spec.id for spec in CHECKS))
    c.add_argument("--watchdog-ms", type=int, default=250,
                   help="watchdog the HELLO asks for (default 250)")
    c.add_argument("--tolerance-ms", type=float, default=20.0,
                   help="host-side measurement tolerance on timing bounds (default 20)")
    c.add_argument("--dig-speed", type=float, default=3.0,
                   help="drum speed for the standstill check, rad/s (default 3)")
    c.add_argument("--cut-depth", type=float, default=-0.30,
                   help="cut depth setpoint while spinning, m; negative keeps the arm "
                        "raised (default -0.30)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.cmd == "selftest":
        return asyncio.run(selftest())
    if args.cmd == "conformance":
        return asyncio.run(conformance(RunConfig(
            url=args.url, baudrate=args.baud, allow_motion=args.allow_motion,
            only=tuple(args.only), watchdog_ms=args.watchdog_ms,
            tolerance_ms=args.tolerance_ms, dig_speed=args.dig_speed,
            cut_depth=args.cut_depth), args.json))
    return asyncio.run(probe(args.url, args.seconds, args.baud))


if __name__ == "__main__":
    sys.exit(main())
