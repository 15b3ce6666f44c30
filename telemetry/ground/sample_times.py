"""Firmware sample seconds to UTC, for plots: the rig's clock corrected by its known offset.

Theory of operation
-------------------
A batch stamps its rows with the firmware's sample clock (``t0_rig`` + i x
``period_s``, seconds since the firmware started: they restart at every
firmware reset and say nothing about the date). Its envelope carries the
rover's wall clock (``t_rig``) and monotonic clock (``t_mono``) at the moment
the batch was queued, a few milliseconds after its last row was sampled. So
the last row was taken at about ``t_rig``, which the ground turns into its own
time with the rover's clock offset (``RigState.clock_offset_s``: ground minus
rover, docs/commands.md "Timing"), and the rows before it lie one period apart
on the firmware's clock.

The firmware's clock need not run at the wall clock's rate: a simulator runs
at a time scale (``rig-sim --time-scale``), where ten sample seconds pass in
one wall second. ``SampleTimes`` measures that rate per stream from the
batches themselves (sample seconds per rover monotonic second, over at least
``MIN_BASELINE_S``) and divides the periods by it; a rate within 1 % of one is
taken as one (a crystal's drift is parts per million). A batch that starts up
to ``JITTER_S`` before the previous one ended is moved to that end, so a
stream plots as one line however late each batch was queued; a firmware reset,
a new boot or a larger jump starts the stream's timeline over. Until the rate is
measured (the first ``MIN_BASELINE_S`` of a stream) it is taken as the last one
measured, else one: a simulator's plot may step back in those first seconds.

Pure: no clock of its own, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["JITTER_S", "MIN_BASELINE_S", "SampleTimes"]

#: a batch that starts this little before its predecessor ended continues it
JITTER_S = 0.1
#: monotonic seconds of batches before the firmware clock's rate is measured
MIN_BASELINE_S = 2.0


@dataclass(slots=True)
class _Origin:
    boot: int
    t_fw: float  # firmware seconds at the end of the first batch
    t_mono: float  # rover monotonic seconds when it was queued


class SampleTimes:
    """UTC times of one stream's rows (one instance per rig and stream)."""

    def __init__(self) -> None:
        self._origin: _Origin | None = None
        self._rate = 1.0  # firmware seconds per wall second
        self._last_fw_end = float("-inf")
        self._last_utc_end: float | None = None

    @property
    def rate(self) -> float:
        """Sample seconds per wall second, as measured (1.0 until measured)."""
        return self._rate

    def place(self, *, boot: int, t0_fw: float, period_s: float, rows: int, t_rig: float,
              t_mono: float, offset_s: float | None) -> tuple[float, float]:
        """(UTC of the first row, seconds between rows) for a batch of *rows* rows.

        *t_rig* and *t_mono* are its envelope's clocks, *offset_s* the rover's clock
        offset (ground minus rover; ``None``: not known, taken as 0)."""
        t_end_fw = t0_fw + rows * period_s
        origin = self._origin
        if origin is None or boot != origin.boot or t0_fw < self._last_fw_end - period_s:
            origin = self._origin = _Origin(boot, t_end_fw, t_mono)  # a new timeline
            self._last_utc_end = None
        elif t_mono - origin.t_mono >= MIN_BASELINE_S and t_end_fw > origin.t_fw:
            rate = (t_end_fw - origin.t_fw) / (t_mono - origin.t_mono)
            self._rate = 1.0 if abs(rate - 1.0) < 0.01 else rate
        self._last_fw_end = t_end_fw
        period = period_s / self._rate
        t0 = t_rig + (offset_s or 0.0) - rows * period
        last = self._last_utc_end
        if last is not None and last - JITTER_S <= t0 < last:
            t0 = last  # queued a little late: it continues the line
        self._last_utc_end = t0 + rows * period
        return t0, period
