"""The figure of docs/control.md, from one mission benchmark run (bench_mission.py --plot)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from mission_run import MissionMetrics

from control.core.supervisor import Mode

DIGGING = float(list(Mode).index(Mode.DIGGING))  # as mission_run records the mode

COLOURS = {"pi_current": "tab:gray", "power_limited": "tab:blue"}


def write_figure(path: str, runs: Sequence[MissionMetrics],
                 stats: dict[str, dict[str, dict[str, float]]],
                 bounds: dict[str, dict[str, float]],
                 today: dict[str, dict[str, float]] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 10))
    grid = fig.add_gridspec(3, 2, height_ratios=(1.0, 1.0, 1.1))
    traced = {(r.soil, r.kind): r for r in runs if r.trace}
    soil = "compacted" if ("compacted", "power_limited") in traced else next(iter(traced))[0]
    for col, kind in enumerate(("pi_current", "power_limited")):
        r = traced.get((soil, kind))
        if r is None:
            continue
        _dig_panels(fig.add_subplot(grid[0, col]), fig.add_subplot(grid[1, col]), r)
    ax = fig.add_subplot(grid[2, 0])
    soils = list(stats)
    x = np.arange(len(soils))
    for k, kind in enumerate(("pi_current", "power_limited")):
        ax.bar(x + (k - 0.5) * 0.35, [stats[s][kind]["kg_h"] for s in soils], 0.35,
               color=COLOURS[kind], label=kind)
    if today:
        ax.scatter(x, [today[s]["kg_h"] for s in soils], marker="_", s=900, color="black",
                   label="bound, today's sequence", zorder=3)
    ax.scatter(x, [bounds[s]["kg_h"] for s in soils], marker="_", s=900, color="tab:red",
               label="bound, overlapped sequence", zorder=3)
    ax.set_xticks(x, soils)
    ax.set_ylim(0, 1.25 * max(bounds[s]["kg_h"] for s in soils))
    ax.set_ylabel("kg/h (simulated)")
    ax.set_title(f"productivity, {stats[soils[0]]['power_limited']['runs']:.0f} seeds per soil",
                 fontsize=10)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    ax.grid(alpha=0.3, axis="y")
    ax = fig.add_subplot(grid[2, 1])
    new = [r for r in runs if r.kind == "power_limited"]
    for col, name in ((1, "fused"), (2, "energy model"), (3, "load cell")):
        errs = sorted(100 * abs(d[col] - d[0]) / d[0] for r in new for d in r.dumps
                      if d[0] > 1.0 and not math.isnan(d[col]))
        if errs:
            ax.plot(errs, np.linspace(0, 100, len(errs)), label=name)
    ax.axvline(3.0, color="tab:green", ls=":", lw=1)
    ax.axvline(8.0, color="tab:red", ls=":", lw=1)
    ax.set_xlabel("|estimate - truth| / truth per dump (%)")
    ax.set_ylabel("dumps (%)")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_title("mass-estimate error per dump (power_limited, all soils)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.suptitle("excavation benchmark: demo mission, lockstep simulation")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _dig_panels(ax_i, ax_d, r: MissionMetrics) -> None:  # type: ignore[no-untyped-def]
    tr = {k: np.asarray(v) for k, v in r.trace.items()}
    digging = np.flatnonzero(tr["mode"] == DIGGING)
    if digging.size == 0:
        return
    first = digging[0]
    end = first + np.argmax(tr["mode"][first:] != DIGGING) + round(3 / (tr["t"][1] - tr["t"][0]))
    sl = slice(max(0, first - 50), end)
    t = tr["t"][sl] - tr["t"][first]
    ax_i.plot(t, tr["current"][sl], lw=0.9, label="filtered drum current (A)")
    ax_i.plot(t, tr["speed"][sl], lw=0.9, label="drum speed (rad/s)")
    ax_i.plot(t, tr["bucket_kg"][sl], lw=0.9, label="bucket estimate (kg)")
    ax_i.axhline(19.0, color="tab:red", ls=":", lw=1)
    ax_i.set_title(f"{r.kind}: first dig, {r.soil} soil, seed {r.seed}", fontsize=10)
    ax_i.legend(fontsize=7, loc="upper left")
    ax_i.grid(alpha=0.3)
    ax_d.plot(t, 100 * tr["depth"][sl], lw=0.9, label="cut depth (cm)")
    ax_d.plot(t, 100 * tr["depth_cmd"][sl], lw=0.9, ls="--", label="depth command (cm)")
    ax_d.set_ylim(-5, 11)
    ax_d.set_xlabel("s since the dig started")
    ax_d.legend(fontsize=7, loc="lower right")
    ax_d.grid(alpha=0.3)
