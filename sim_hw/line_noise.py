"""A noisy serial line as a pure function of bytes: the model behind the noise proxy.

A real UART cable near motor drives garbles bytes in several ways, and the
link must survive each of them:

* ``bit_flip``: one random bit of a byte inverted (EMI on the data line);
* ``drop``: a byte lost (framing error, FIFO overrun);
* ``duplicate``: a byte received twice (a glitch the receiver samples twice);
* ``insert``: a spurious byte appears (a start bit out of noise);
* ``burst``: ``burst_len`` consecutive bytes replaced by noise (a motor switching).

Each rate is a probability per byte on the wire. ``NoiseConfig.mixed(rate)``
splits one total byte error rate evenly between the four single-byte kinds,
which is how the tests and the table in ``docs/protocol.md`` quote it.

``LineNoise.apply(data)`` returns the garbled bytes; randomness comes from the
``numpy.random.Generator`` it was given, so a seed reproduces a run exactly.
Work per call is one vectorised draw plus Python work per *error*, not per byte.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, fields

import numpy as np

from .errors import SimUsageError

__all__ = ["LineNoise", "NoiseConfig", "parse_noise"]


@dataclass(frozen=True, slots=True)
class NoiseConfig:
    bit_flip: float = 0.0
    drop: float = 0.0
    duplicate: float = 0.0
    insert: float = 0.0
    burst: float = 0.0  # probability per byte that a burst starts there
    burst_len: int = 16

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "burst_len":
                if not isinstance(value, int) or not 1 <= value <= 4096:
                    raise SimUsageError(f"noise burst_len: expected 1..4096, got {value!r}")
            elif not (isinstance(value, int | float) and math.isfinite(value)
                      and 0.0 <= value <= 0.5):
                raise SimUsageError(f"noise {f.name}: expected a rate in [0, 0.5], "
                                     f"got {value!r}")
        if self.total > 0.5:
            raise SimUsageError(f"noise: total byte error rate {self.total} exceeds 0.5")

    @classmethod
    def mixed(cls, rate: float, *, burst: float = 0.0, burst_len: int = 16) -> NoiseConfig:
        """One total single-byte error rate split evenly over flip, drop, duplicate, insert."""
        q = rate / 4
        return cls(q, q, q, q, burst, burst_len)

    @property
    def total(self) -> float:
        return self.bit_flip + self.drop + self.duplicate + self.insert + self.burst


def parse_noise(spec: str) -> NoiseConfig:
    """``"0.005"`` (a mixed rate) or ``"bit_flip=1e-3,drop=1e-3,burst=1e-5,burst_len=32"``."""
    spec = spec.strip()
    try:
        return NoiseConfig.mixed(float(spec))
    except ValueError:
        pass
    kwargs: dict[str, float | int] = {}
    names = {f.name for f in fields(NoiseConfig)}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, raw = part.partition("=")
        if not sep or key not in names:
            raise SimUsageError(f"noise {part!r}: expected NAME=VALUE with NAME one of "
                                 f"{', '.join(sorted(names))}")
        try:
            kwargs[key] = int(raw) if key == "burst_len" else float(raw)
        except ValueError:
            raise SimUsageError(f"noise {key}: expected a number, got {raw!r}") from None
    return NoiseConfig(**kwargs)  # type: ignore[arg-type]


class LineNoise:
    """Applies a ``NoiseConfig`` to byte chunks; counts what it did in ``counters``."""

    _KINDS = ("bit_flip", "drop", "duplicate", "insert", "burst")

    def __init__(self, config: NoiseConfig, rng: np.random.Generator) -> None:
        self.rng = rng
        self.counters: Counter[str] = Counter()
        self._burst_left = 0  # a burst may continue into the next chunk
        self.reconfigure(config)

    def reconfigure(self, config: NoiseConfig) -> None:
        """Change the rates from the next byte on (a running proxy ramps noise)."""
        self.config = config
        self._edges = np.cumsum([getattr(config, k) for k in self._KINDS])

    def apply(self, data: bytes) -> bytes:
        n = len(data)
        self.counters["bytes_in"] += n
        if n == 0 or (self.config.total == 0.0 and self._burst_left == 0):
            self.counters["bytes_out"] += n
            return data
        draws = self.rng.random(n)
        kinds = np.searchsorted(self._edges, draws, side="right")  # 5 = no error
        out = bytearray(data)
        if self._burst_left:
            self._burst_left = self._garble(out, 0)
        hits = np.flatnonzero(kinds < len(self._KINDS))
        # edit from the end so earlier indices stay valid while the length changes
        for i in hits[::-1].tolist():
            kind = self._KINDS[kinds[i]]
            self.counters[kind] += 1
            if kind == "bit_flip":
                out[i] ^= 1 << int(self.rng.integers(8))
            elif kind == "drop":
                del out[i]
            elif kind == "duplicate":
                out.insert(i, out[i])
            elif kind == "insert":
                out.insert(i + 1, int(self.rng.integers(256)))
            else:
                left = self._garble(out, i, self.config.burst_len)
                self._burst_left = max(self._burst_left, left)
        self.counters["bytes_out"] += len(out)
        return bytes(out)

    def _garble(self, out: bytearray, start: int, length: int | None = None) -> int:
        """Replace up to *length* bytes from *start* with noise; return what did not fit."""
        length = self._burst_left if length is None else length
        end = min(len(out), start + length)
        out[start:end] = self.rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
        return length - (end - start)
