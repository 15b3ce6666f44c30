"""Pure-Python twin of ``control.runtime._ingest`` (the compiled kernel is loaded by default).

``ingest`` takes one stream's queued sample batches (raw int16 counts) in one
call and does everything the sensor feed needs from the raw counts, per
channel:

* ``phys``: ``count * scale + offset`` per row, NaN where the count is the
  "no reading" marker -32768 (``firmware_bridge.messages.NO_READING``);
* ``changed``: the end time (us) of the last batch in which the channel's counts
  moved, within the batch or against the previous row (the previous batch's last
  row, or ``last`` from the call before); with ``fresh`` (a new session, no
  previous row) every channel first counts as changed at the end of the first
  batch;
* ``saturated``: set (OR) where some batch is at a rail in every row
  (``|count| >= 32767``, ``COUNT_RAIL``) or "no reading" in every row;
* ``last``: overwritten with the final row's counts.

It returns the number of channels whose ``saturated`` flag is set after the
call. One call replaces about ten numpy calls on tiny arrays: at 100 Hz the
control loop wakes with cold caches, where each of those costs 10 to 30 us.
"""

from __future__ import annotations

import numpy as np

from firmware_bridge.messages import COUNT_RAIL as RAIL
from firmware_bridge.messages import NO_READING


def ingest(batches: list[np.ndarray], ends: list[int], scale: np.ndarray, offset: np.ndarray,
           last: np.ndarray, fresh: bool, changed: np.ndarray, saturated: np.ndarray,
           phys: np.ndarray) -> int:
    c = scale.shape[0]
    if not batches or len(ends) != len(batches):
        raise ValueError(f"{len(batches)} batches with {len(ends)} end times")
    if any(a.shape[0] != c for a in (offset, last, changed, saturated)) or phys.shape[1] != c:
        raise ValueError(f"channel counts differ (scale has {c})")
    for b, batch in enumerate(batches):
        if batch.ndim != 2 or batch.shape[0] == 0 or batch.shape[1] != c:
            raise ValueError(f"batch {b} is {' x '.join(map(str, batch.shape))}, "
                             f"expected n x {c}")
    counts = batches[0] if len(batches) == 1 else np.concatenate(batches)
    if counts.shape[0] > phys.shape[0]:
        raise ValueError(f"phys has {phys.shape[0]} rows, fewer than the batches")
    phys = phys[:counts.shape[0]]
    np.multiply(counts, scale, out=phys)
    phys += offset
    dropout = counts == NO_READING
    phys[dropout] = np.nan
    prev = counts[0] if fresh else last
    if fresh:
        changed[:] = ends[0]
    railed = ((counts >= RAIL) | (counts <= -RAIL)) & ~dropout
    row = 0
    for batch, end in zip(batches, ends, strict=True):
        rows = slice(row, row + batch.shape[0])
        moved = (batch != np.vstack([prev[np.newaxis], batch[:-1]])).any(axis=0)
        changed[moved] = end
        saturated |= railed[rows].all(axis=0) | dropout[rows].all(axis=0)
        prev = batch[-1]
        row += batch.shape[0]
    last[:] = counts[-1]
    return int(np.count_nonzero(saturated))
