"""A test campaign written with ``GroundClient``: arm, dig at two sites, check the totals.

    python docs/campaign_two_sites.py --broker mqtt://127.0.0.1:1883 --rig rig-1 \\
        --key ~/.rig-keys/ops-1.key [--sites A,B] [--rover-key rover.pub] [--timeout 600]

The rover runs ``rig-control run`` with a mission that names the sites (the
controller drives to each, digs, stows, drives to the dump and dumps, and books
every dump in its signed ledger); this script is the ground side, in the spirit
of a COSMOS Script Runner procedure:

1. wait until the rig is online, idle and has no active interlock;
2. ``arm``, wait for ``armed``; ``start``, wait for the mission to end;
3. check, for every site, that something was dug, that the ledger entries
   booked during the campaign add up to what the mission reports delivered,
   and that no alarm was raised; with ``--rover-key``, that the ledger's hash
   chain and signatures verify.

Nothing is injected: this is the nominal case. Exit status 0 when every check
passes, 1 when one fails (the reason is printed), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from telemetry.ground.client import GroundClient, LiveState

__all__ = ["CampaignResult", "main", "run_campaign"]

TOLERANCE_KG = 0.01  # the ledger stores grams; the mission rounds to grams too


class CampaignFailed(AssertionError):
    """One of the campaign's checks failed; the message says which and by how much."""


@dataclass
class CampaignResult:
    delivered_kg: dict[str, float] = field(default_factory=dict)
    ledger_kg: dict[str, float] = field(default_factory=dict)
    ledger_entries: int = 0
    commands: list[str] = field(default_factory=list)
    ledger_verified: bool | None = None


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CampaignFailed(message)


def mission_ended(sites: Sequence[str]) -> Callable[[LiveState], bool]:
    def ended(s: LiveState) -> bool:
        progress = {p.name: p for p in (s.mission.sites if s.mission else ())}

        def done(name: str) -> bool:
            p = progress.get(name)
            target = (p.target_kg or 0.0) if p else 0.0
            return p is not None and (p.delivered_kg >= target - max(0.5, 0.02 * target)
                                      or bool(p.abandoned))

        return all(done(n) for n in sites) and s.mode == "idle" \
            and not s.state.mission_running
    return ended


async def run_campaign(broker: str, rig: str, key: str, sites: Sequence[str], *,
                       rover_key: str | None = None, timeout: float = 600.0,
                       say: Callable[[str], None] = print) -> CampaignResult:
    result = CampaignResult()
    async with GroundClient(broker, rig, key=key) as g:
        start = await g.wait_for(lambda s: s.online is True and s.mode == "idle"
                                 and not s.interlocks, timeout=60)
        before = {site: start.delivered_kg(site) for site in sites}
        first_index = len(g.ledger())
        # alarms from before the campaign (start-up transients) are not the campaign's
        old_alarms = {(a.cause, a.count) for a in g.model.alarms.for_rig(rig)}
        say(f"{rig} is idle at ({start.x_m}, {start.y_m}); arming")
        for command, mode in (("arm", "armed"), ("start", None)):
            ack = await g.send(command)  # raises CommandRejectedError if refused
            result.commands.append(f"{command}: accepted in {ack.acked_at - ack.sent_at:.2f} s")
            if mode:
                await g.wait_for(lambda s, m=mode: s.mode == m, timeout=10)
        say("mission started: digging at " + ", ".join(sites))
        end = await g.wait_for(mission_ended(sites), timeout=timeout)
        result.delivered_kg = {site: round(end.delivered_kg(site) - before[site], 3)
                               for site in sites}

        def ledger_caught_up(_: LiveState) -> bool:  # entries are published after each dump
            booked = g.ledger()[first_index:]
            return sum(r.mass_g or 0 for r in booked) / 1000.0 >= \
                sum(result.delivered_kg.values()) - TOLERANCE_KG

        await g.wait_for(ledger_caught_up, timeout=30)
        booked = g.ledger()[first_index:]
        result.ledger_entries = len(booked)
        for site in sites:
            result.ledger_kg[site] = sum(r.mass_g or 0 for r in booked if r.site == site) / 1e3
        for site in sites:
            check(result.delivered_kg[site] > 0, f"site {site}: nothing was dug")
            check(abs(result.ledger_kg[site] - result.delivered_kg[site]) <= TOLERANCE_KG,
                  f"site {site}: ledger {result.ledger_kg[site]:.3f} kg but the mission "
                  f"delivered {result.delivered_kg[site]:.3f} kg")
        alarms = [a for a in g.model.alarms.for_rig(rig) if (a.cause, a.count) not in old_alarms]
        check(not alarms, "alarms were raised: " + "; ".join(a.text for a in alarms))
        if rover_key is not None:
            report = g.verify_ledger(rover_key)
            check(report.ok, f"ledger does not verify: {report.broken}")
            result.ledger_verified = True
    for site in sites:
        say(f"site {site}: {result.delivered_kg[site]:.3f} kg delivered, "
            f"{result.ledger_kg[site]:.3f} kg in the ledger")
    say(f"{result.ledger_entries} ledger entries; campaign PASSED")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument("--rig", default="rig-1")
    p.add_argument("--key", required=True, help="station secret key (operator role)")
    p.add_argument("--sites", default="A,B", help="comma-separated site names (%(default)s)")
    p.add_argument("--rover-key", help="rover public key: also verify the ledger")
    p.add_argument("--timeout", type=float, default=600.0, help="mission deadline, s")
    args = p.parse_args(argv)
    sites = [s for s in args.sites.split(",") if s]
    if not sites:
        p.error("--sites: expected at least one site name")
    try:
        asyncio.run(run_campaign(args.broker, args.rig, args.key, sites,
                                 rover_key=args.rover_key, timeout=args.timeout))
    except AssertionError as err:  # CampaignFailed, and plain asserts added by hand
        print(f"campaign FAILED: {err}", file=sys.stderr)
        return 1
    except TimeoutError as err:  # WaitTimeoutError, CommandTimeoutError
        print(f"campaign FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
