"""A PNG of one run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from ..core.supervisor import Mode
from ..runtime.run_record import RunRecord


def write_plot(record: RunRecord, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = record.array()
    col = {name: i for i, name in enumerate(record.columns)}
    fig, axes = plt.subplots(5, 1, figsize=(11, 12), sharex=True)
    if data.shape[0]:
        t = data[:, col["t"]] - data[0, col["t"]]

        def plot(ax, name: str, label: str, **kw) -> None:  # type: ignore[no-untyped-def]
            ax.plot(t, data[:, col[name]], label=label, lw=0.8, **kw)

        ax = axes[0]
        plot(ax, "drum_current", "drum current (A)")
        plot(ax, "drum_speed", "drum speed (rad/s)")
        plot(ax, "speed_cmd", "speed command (rad/s)", ls="--")
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[1]
        plot(ax, "cut_depth", "cut depth (m)")
        plot(ax, "depth_cmd", "depth command (m)", ls="--")
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[2]
        plot(ax, "bucket_kg", "bucket estimate (kg)")
        plot(ax, "load_cell_kg", "load cell (kg)", alpha=0.6)
        plot(ax, "model_kg", "energy model (kg)", ls=":")
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[3]
        plot(ax, "tilt", "tilt (deg)")
        plot(ax, "motor_temp", "motor temperature (degC)")
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[4]
        ax.step(t, data[:, col["mode"]], where="post", lw=1.0)
        ax.set_yticks(range(len(Mode)), [m.value for m in Mode], fontsize=7)
        ax.set_xlabel("plant time (s)")
        t0 = data[0, col["t"]]
        for when, severity, _text in record.events:
            if severity in ("warning", "alarm", "critical"):
                for a in axes:
                    a.axvline(when - t0, color="red", alpha=0.25, lw=0.8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title or "rig-control run")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out

__all__ = ["write_plot"]
