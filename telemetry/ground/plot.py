"""``rig-ground plot``: PNG plots of a recorded run (matplotlib, Agg backend).

Conventions (docs/telemetry.md, "Ground tools"): a batch stream ``<name>_raw``
holds the unfiltered samples of ``<name>``, drawn under the filtered trace; the
state timeline is the state's ``mode``; mass excavated is the channel
``mass_excavated`` of any batch stream, else the mass the state's mission
progress says was delivered (``mission.delivered_kg``).
Writes ``<stream>.png`` per filtered stream, ``state.png`` and ``mass.png``.
The recording is a SQLite file or a PostgreSQL store; a store holding several rigs
needs ``--rig`` (plots are of one rig).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from telemetry.contract import TopicKind
from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.payloads import BatchMessage, StateMessage, decode
from telemetry.contract.rig_state import RigState
from telemetry.ground._sync import run_sync
from telemetry.ground.stores import RecordingStore, StoreError, open_store

__all__ = ["plot_recording", "register"]

_MAX_CHANNELS = 8


_Streams = dict[str, tuple[list[str], list[str], np.ndarray, np.ndarray]]


async def _pick_rig(store: RecordingStore, rig: str | None) -> str | None:
    if rig is not None:
        return rig
    rigs = await store.rigs()
    if len(rigs) > 1:
        raise ValueError(f"{store.location} holds {len(rigs)} rigs ({', '.join(rigs[:10])}"
                         f"{', ...' if len(rigs) > 10 else ''}): choose one with --rig")
    return rigs[0] if rigs else None


async def _load(store: RecordingStore, rig: str | None
                ) -> tuple[_Streams, list[tuple[float, RigState]]]:
    parts: dict[str, list[BatchMessage]] = {}
    states: list[tuple[float, RigState]] = []
    rig = await _pick_rig(store, rig)
    for kind in (TopicKind.BATCH, TopicKind.STATE):
        async for row in store.rows(rig=rig, type_=kind.value):
            if row.duplicate:
                continue
            try:
                msg = decode(row.payload)
            except PayloadDecodeError:
                continue
            if isinstance(msg, BatchMessage):
                parts.setdefault(msg.stream, []).append(msg)
            elif isinstance(msg, StateMessage):
                states.append((msg.envelope.t_rig, msg.state))
    streams = {}
    for name, batches in parts.items():
        batches.sort(key=lambda b: b.envelope.seq)
        times = np.concatenate([b.t0_rig + b.period_s * np.arange(len(b.samples))
                                for b in batches])
        values = np.concatenate([b.samples.astype(np.float64) for b in batches])
        streams[name] = (list(batches[-1].channels), list(batches[-1].units), times, values)
    states.sort(key=lambda s: s[0])
    return streams, states


async def load_recording(recording: str | Path, rig: str | None = None
                         ) -> tuple[_Streams, list[tuple[float, dict]]]:
    """Batch streams and state timeline of one rig; ``ValueError`` if *rig* is needed."""
    store = await open_store(recording)
    try:
        return await _load(store, rig)
    finally:
        await store.close()


def plot_recording(recording: str | Path, out_dir: Path, rig: str | None = None) -> list[Path]:
    """Write the PNGs; raises ``StoreError`` (unreadable) or ``ValueError`` (need --rig)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    streams, states = run_sync(load_recording(recording, rig))
    name = Path(recording).name if "://" not in str(recording) else (rig or "fleet")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    t_start = min([s[2][0] for s in streams.values() if len(s[2])] + [s[0] for s in states[:1]],
                  default=0.0)
    for stream, (channels, units, times, values) in sorted(streams.items()):
        if stream.endswith("_raw"):
            continue
        raw = streams.get(f"{stream}_raw")
        shown = channels[:_MAX_CHANNELS]
        fig, axes = plt.subplots(len(shown), 1, sharex=True, squeeze=False,
                                 figsize=(10, 2.2 * len(shown)))
        for i, channel in enumerate(shown):
            ax = axes[i][0]
            if raw is not None and channel in raw[0]:
                j = raw[0].index(channel)
                ax.plot(raw[2] - t_start, raw[3][:, j], color="0.75", lw=0.6, label="raw")
            ax.plot(times - t_start, values[:, i], lw=1.0, label="filtered")
            ax.set_ylabel(f"{channel} [{units[i]}]")
            if raw is not None:
                ax.legend(loc="upper right", fontsize="small")
        axes[-1][0].set_xlabel("rig time since start [s]")
        fig.suptitle(f"{name}: {stream}")
        fig.tight_layout()
        written.append(out_dir / f"{stream}.png")
        fig.savefig(written[-1], dpi=90)
        plt.close(fig)
    modes = [(t, s.mode) for t, s in states if s.mode is not None]
    if modes:
        labels = sorted({m for _, m in modes})
        fig, ax = plt.subplots(figsize=(10, 2.5))
        ax.step([t - t_start for t, _ in modes], [labels.index(m) for _, m in modes], where="post")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("rig time since start [s]")
        ax.set_title("controller state")
        fig.tight_layout()
        written.append(out_dir / "state.png")
        fig.savefig(written[-1], dpi=90)
        plt.close(fig)
    mass: tuple[np.ndarray, np.ndarray] | None = None
    for channels, _units, times, values in streams.values():
        if "mass_excavated" in channels:
            mass = (times, values[:, channels.index("mass_excavated")])
            break
    if mass is None:
        pts = [(t, s.mission.delivered_kg) for t, s in states if s.mission is not None]
        if pts:
            mass = (np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
    if mass is not None:
        fig, ax = plt.subplots(figsize=(10, 3))
        ax.plot(mass[0] - t_start, mass[1])
        ax.set_xlabel("rig time since start [s]")
        ax.set_ylabel("mass excavated [kg]")
        fig.tight_layout()
        written.append(out_dir / "mass.png")
        fig.savefig(written[-1], dpi=90)
        plt.close(fig)
    return written


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plot", help="PNG plots of a recording")
    p.add_argument("recording", metavar="SOURCE",
                   help="a file written by `record` or a postgresql://... URL (with --rig)")
    p.add_argument("--out", type=Path, default=Path("plots"), help="output directory")
    p.set_defaults(func=_main, needs_broker=False)


def _main(args: argparse.Namespace, settings: object) -> int:
    try:
        written = plot_recording(args.recording, args.out, args.rig)
    except (StoreError, ValueError) as err:
        print(f"rig-ground plot: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
