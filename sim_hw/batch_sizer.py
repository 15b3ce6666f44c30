"""Adaptive sample-batch length: short batches on a noisy line, long ones on a clean one.

Theory of operation (docs/protocol.md section 4.6.1). A SAMPLE_BATCH of ``n``
samples is ``overhead + n * bytes_per_sample`` bytes on the wire, and one bad
byte loses the whole frame, so at a byte error rate ``p`` it arrives with
probability ``(1 - p) ** (overhead + n * bytes_per_sample)``. Long batches
cost less overhead; short ones lose fewer samples per error. The firmware
measures the line where it can, on what it receives from the host (a serial
cable's noise hits both directions alike): every ``window_s`` it turns the
counts of good and bad frames and of bytes received into a byte error rate,
smooths it, and picks the longest batch (up to the nominal BATCH_SAMPLES)
whose frames still arrive intact with probability ``target_delivery``. On a
clean line that is the nominal length; it never goes below one sample.

Rules: pure and time-injected (``observe(now, ...)`` takes the link's
cumulative counters and a monotonic time in seconds); a window grows until
it holds ``min_frames`` frames (a quiet host sends few); a counter that went
backwards (a new link after a firmware reset) starts a new baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware_bridge.link_config import LinkStats

from .errors import SimError

__all__ = ["BatchSizer", "BatchSizingConfig", "batch_for_error_rate"]


@dataclass(frozen=True, slots=True)
class BatchSizingConfig:
    window_s: float = 0.25  # wall seconds of receive statistics per estimate
    min_frames: int = 10  # fewer frames than this in a window: keep the estimate
    target_delivery: float = 0.85  # a batch frame should arrive intact this often
    overhead_bytes: int = 39  # header 12 + batch header 20 + CRC 4 + COBS ~2 + delimiter
    smoothing: float = 0.5  # weight of the newest window in the running estimate
    # the host's budget of sample batches per wall second: short batches multiply the
    # frame rate, and a host that cannot keep up loses more than the noise does
    max_batches_per_s: float = 1000.0

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise SimError(f"BatchSizingConfig.window_s must be > 0, got {self.window_s}")
        if not 0.0 < self.target_delivery < 1.0:
            raise SimError("BatchSizingConfig.target_delivery must be in (0, 1), "
                           f"got {self.target_delivery}")
        if not 0.0 < self.smoothing <= 1.0:
            raise SimError(f"BatchSizingConfig.smoothing must be in (0, 1], got {self.smoothing}")
        if not self.max_batches_per_s > 0:
            raise SimError("BatchSizingConfig.max_batches_per_s must be > 0, "
                           f"got {self.max_batches_per_s}")
        if self.min_frames < 1 or self.overhead_bytes < 0:
            raise SimError("BatchSizingConfig.min_frames >= 1 and overhead_bytes >= 0")


def batch_for_error_rate(p: float, nominal: int, bytes_per_sample: int,
                         config: BatchSizingConfig) -> int:
    """Longest batch in ``[1, nominal]`` that arrives intact with ``target_delivery``."""
    if nominal < 1 or bytes_per_sample < 1:
        raise SimError(f"nominal ({nominal}) and bytes_per_sample ({bytes_per_sample}) "
                       "must be >= 1")
    if p <= 0.0:
        return nominal
    if p >= 1.0:
        return 1
    budget = math.log(config.target_delivery) / math.log1p(-p)  # bytes allowed per frame
    if budget >= config.overhead_bytes + nominal * bytes_per_sample:
        return nominal  # also catches an infinite budget at a vanishing p
    n = math.floor((budget - config.overhead_bytes) / bytes_per_sample)
    return max(1, min(nominal, n))


class BatchSizer:
    """Running estimate of the line's byte error rate and the batch length it calls for."""

    def __init__(self, nominal: int, bytes_per_sample: int,
                 config: BatchSizingConfig | None = None, *, samples_per_s: float = 0.0,
                 adaptive: bool = True) -> None:
        self.config = config or BatchSizingConfig()
        self.adaptive = adaptive  # False: always the nominal length, nothing measured
        batch_for_error_rate(0.0, nominal, bytes_per_sample, self.config)  # validates
        # never below what keeps the wall batch rate within the host's budget
        self.min_samples = min(nominal, max(1, math.ceil(
            samples_per_s / self.config.max_batches_per_s - 1e-9)))
        self.nominal = nominal
        self.bytes_per_sample = bytes_per_sample
        self.byte_error_rate = 0.0
        self._n = nominal
        self._base: tuple[float, int, int, int] | None = None  # now, good, bad, bytes

    def batch_samples(self) -> int:
        return max(self._n, self.min_samples) if self.adaptive else self.nominal

    def set_nominal(self, nominal: int) -> None:
        """The ceiling changed (PARAM_SET BATCH_SAMPLES)."""
        self.nominal = max(1, int(nominal))
        self._n = batch_for_error_rate(self.byte_error_rate, self.nominal,
                                       self.bytes_per_sample, self.config)

    def observe_link(self, now: float, stats: LinkStats) -> None:
        """Feed a ``Link.counters()`` snapshot: frames that decoded and frames dropped."""
        if not self.adaptive or self.min_samples >= self.nominal:
            return  # nothing to adapt: not even the counters are read
        bad = stats.crc_errors + stats.framing_errors + stats.decode_errors
        self.observe(now, stats.frames_rx, bad, stats.bytes_rx)

    def observe(self, now: float, frames_good: int, frames_bad: int, bytes_rx: int) -> None:
        """Feed the link's cumulative receive counters at time *now*."""
        base = self._base
        if base is None or frames_good < base[1] or frames_bad < base[2] or bytes_rx < base[3]:
            self._base = (now, frames_good, frames_bad, bytes_rx)
            return
        if now - base[0] < self.config.window_s:
            return
        good, bad, nbytes = frames_good - base[1], frames_bad - base[2], bytes_rx - base[3]
        frames = good + bad
        if frames < self.config.min_frames or nbytes <= 0:
            return  # a quiet host: the window grows until it holds enough frames
        self._base = (now, frames_good, frames_bad, bytes_rx)
        mean_len = max(1.0, nbytes / frames)
        lost = bad / frames
        p = 1.0 - (1.0 - lost) ** (1.0 / mean_len) if lost < 1.0 else 1.0
        a = self.config.smoothing
        self.byte_error_rate = a * p + (1.0 - a) * self.byte_error_rate
        self._n = batch_for_error_rate(self.byte_error_rate, self.nominal,
                                       self.bytes_per_sample, self.config)
