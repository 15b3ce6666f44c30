"""What one sample stream keeps for the downlink between two telemetry publications.

The sensor feed filters every batch as it is read (``control.runtime.sensor_feed``);
the downlink wants the same rows at about ``DOWNLINK_RATE_HZ`` and statistics over
one-second windows of the raw (scaled) samples, a few times a second. A
``DownlinkBuffer`` sits between the two rates:

* ``keep(filtered, raw)`` takes each filtered block and its raw block: it keeps every
  k-th filtered row, phase-consistent across blocks (the chains low-pass well below
  the kept rate's Nyquist frequency, so this does not alias), and closes statistics
  windows over the raw samples;
* ``take()`` gives what was kept since the last call, stamped on the firmware's
  sample clock;
* memory is bounded: at most ``TELEMETRY_BUFFER_S`` of rows and of statistics
  windows wait; when the downlink does not drain them the oldest go first.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from telemetry.contract.payloads import BatchBlock, StatsBlock
from telemetry.rover.filters import STATS, WindowStats

__all__ = ["DOWNLINK_RATE_HZ", "TELEMETRY_BUFFER_S", "DownlinkBuffer"]

#: at most this many seconds of filtered rows wait for the downlink (then oldest dropped)
TELEMETRY_BUFFER_S = 10.0
#: filtered rows go to the ground at about this rate: the chains low-pass well below
#: its Nyquist frequency, so keeping every k-th row does not alias
DOWNLINK_RATE_HZ = 100.0


class DownlinkBuffer:
    """The kept rows and statistics windows of one stream (see the module docstring)."""

    def __init__(self, stream: str, names: tuple[str, ...], units: tuple[str, ...],
                 fs: float, fs_out: float) -> None:
        self.stream, self.names, self.units = stream, names, units
        self.fs = fs  # raw sample rate, Hz
        self.fs_out = fs_out  # filtered rows, Hz
        self.step = max(1, round(fs_out / DOWNLINK_RATE_HZ))  # keep every step-th row
        self.period_s = self.step / fs_out  # between two kept rows
        self.stats = WindowStats(max(1, round(fs)), len(names))
        self._rows: deque[np.ndarray] = deque()  # kept filtered rows, oldest first
        self._rows_kept = 0  # rows in ``_rows`` (so the bound check is O(1) per block)
        self._rows_t0_s: float | None = None  # sample time of the first kept row
        self._windows: list[StatsBlock] = []
        self._out_index = 0  # filtered rows produced since the stream (re)started
        self._raw_index = 0  # raw samples since the stream (re)started
        self._t_start_s: float | None = None  # sample time the stream (re)started at

    def start(self, t_start_s: float) -> None:
        """The sample time of the stream's first sample (once per (re)start)."""
        if self._t_start_s is None:
            self._t_start_s = t_start_s

    def keep(self, filtered: np.ndarray, raw: np.ndarray) -> None:
        """Keep the downlink's share of one filtered block and its raw block."""
        assert self._t_start_s is not None, "start() before keep()"
        t_start = self._t_start_s
        if filtered.shape[0]:
            first = (-self._out_index) % self.step  # phase-consistent across blocks
            kept = filtered[first::self.step]
            if kept.shape[0]:
                if self._rows_t0_s is None:
                    self._rows_t0_s = t_start + (self._out_index + first) / self.fs_out
                self._rows.append(kept.copy())
                self._rows_kept += kept.shape[0]
            self._out_index += filtered.shape[0]
            while self._rows_kept * self.period_s > TELEMETRY_BUFFER_S and len(self._rows) > 1:
                dropped = self._rows.popleft()  # the downlink is not draining: oldest first
                self._rows_kept -= dropped.shape[0]
                self._rows_t0_s += dropped.shape[0] * self.period_s
        windows = self.stats.process(raw)
        size = self.stats.window
        for w in range(windows.shape[0]):
            first = self._raw_index - (self._raw_index % size) + w * size
            self._windows.append(StatsBlock(
                self.stream, self.names, self.units, t_start + first / self.fs,
                size / self.fs, size, {name: windows[w, k].copy() for k, name in enumerate(STATS)}))
        del self._windows[:-int(TELEMETRY_BUFFER_S) or None]
        self._raw_index += raw.shape[0]

    def take(self) -> tuple[BatchBlock | None, list[StatsBlock]]:
        """The rows and closed windows kept since the last call (their times are the
        firmware's sample clock, seconds)."""
        block = None
        if self._rows and self._rows_t0_s is not None:
            block = BatchBlock(self.stream, self.names, self.units, self._rows_t0_s,
                               self.period_s, np.concatenate(self._rows))
            self._rows_t0_s += block.samples.shape[0] * self.period_s
            self._rows.clear()
            self._rows_kept = 0
        windows, self._windows = self._windows, []
        return block, windows

    def reset(self) -> None:
        """After a link loss: the next sample starts the stream's clock again (closed
        statistics windows still go out with the next ``take``)."""
        self._rows.clear()
        self._rows_kept = 0
        self._rows_t0_s = None
        self._out_index = self._raw_index = 0
        self._t_start_s = None
        self.stats.reset()
