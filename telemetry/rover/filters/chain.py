"""Filter chains: stages applied in sequence, built from a configuration table.

``FilterChain.from_config({"stages": [...]}, fs, n_channels)`` checks every stage
table (type, required and optional keys) and names the offending key in its
``ValueError`` (``stages[1].cutoff_hz``). A decimate stage changes the rate the
stages after it see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from telemetry.rover.filters.butterworth import butter
from telemetry.rover.filters.streams import Decimator, Ema, Hampel, RunningMedian, SosFilter
from telemetry.rover.filters.validation import valid_dtype, valid_int, valid_positive

__all__ = ["FilterChain", "Stage"]


class Stage(Protocol):
    n_channels: int
    dtype: np.dtype
    nan_count: np.ndarray

    def process(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray: ...

    def output_length(self, n: int) -> int: ...


_STAGE_KEYS: dict[str, tuple[set[str], set[str]]] = {  # type: (required, optional)
    "hampel": ({"window"}, {"threshold"}),
    "median": ({"window"}, set()),
    "lowpass": ({"order", "cutoff_hz"}, set()),
    "highpass": ({"order", "cutoff_hz"}, set()),
    "bandpass": ({"order", "low_hz", "high_hz"}, set()),
    "ema": ({"tau_s"}, set()),
    "decimate": ({"factor"}, {"order", "cutoff_hz"}),
}


def _build_stage(spec: Mapping[str, Any], fs: float, c: int, dt: np.dtype) -> tuple[Stage, float]:
    kind = spec["type"]
    if kind == "hampel":
        return Hampel(spec["window"], c, spec.get("threshold", 3.0), dt), fs
    if kind == "median":
        return RunningMedian(spec["window"], c, dt), fs
    if kind in ("lowpass", "highpass"):
        return SosFilter(butter(spec["order"], spec["cutoff_hz"], fs, kind), c, dt), fs
    if kind == "bandpass":
        sos = butter(spec["order"], (spec["low_hz"], spec["high_hz"]), fs, "bandpass")
        return SosFilter(sos, c, dt), fs
    if kind == "ema":
        return Ema(spec["tau_s"], fs, c, dt), fs
    d = Decimator(
        spec["factor"], fs, c, dt, order=spec.get("order", 8), cutoff_hz=spec.get("cutoff_hz")
    )
    return d, d.fs_out


class FilterChain:
    """Filters applied in sequence to the same channels, e.g. Hampel -> low-pass -> decimate.

    Build with ``FilterChain.from_config(spec, fs, n_channels, dtype)``. Intermediate
    results go to buffers kept between calls (grown when a chunk is larger than any
    before), so only the final output is allocated, and not even that with ``out=``.
    """

    def __init__(self, stages: Sequence[Stage], fs: float, fs_out: float | None = None):
        if not stages:
            raise ValueError("stages: expected at least one stage, got none")
        self.stages = tuple(stages)
        first = self.stages[0]
        for i, st in enumerate(self.stages):
            if st.n_channels != first.n_channels or st.dtype != first.dtype:
                raise ValueError(
                    f"stages[{i}]: expected {first.n_channels} channels of {first.dtype}, "
                    f"got {st.n_channels} of {st.dtype}"
                )
        self.n_channels = first.n_channels
        self.dtype = first.dtype
        self.fs = valid_positive("fs", fs)
        self.fs_out = self.fs if fs_out is None else fs_out
        self._buffers: list[np.ndarray | None] = [None] * (len(self.stages) - 1)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], fs: float, n_channels: int,
        dtype: npt.DTypeLike = np.float64
    ) -> FilterChain:
        """Build from ``{"stages": [{"type": "hampel", "window": 7, ...}, ...]}``.

        Stage types and keys: hampel (window, threshold=3.0), median (window),
        lowpass/highpass (order, cutoff_hz), bandpass (order, low_hz, high_hz),
        ema (tau_s), decimate (factor, order=8, cutoff_hz=0.4*fs/factor). Frequencies
        after a decimate refer to the decimated rate. Raises ValueError naming the key.
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"config: expected a mapping, got {type(config).__name__}")
        unknown = set(config) - {"stages"}
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)} (expected: 'stages')")
        specs = config.get("stages")
        if not isinstance(specs, Sequence) or isinstance(specs, str) or not specs:
            raise ValueError(f"stages: expected a non-empty list of stage tables, got {specs!r}")
        rate = valid_positive("fs", fs)
        c = valid_int("n_channels", n_channels, 1)
        dt = valid_dtype(dtype)
        stages: list[Stage] = []
        for i, spec in enumerate(specs):
            where = f"stages[{i}]"
            if not isinstance(spec, Mapping):
                raise ValueError(f"{where}: expected a table, got {spec!r}")
            kind = spec.get("type")
            if kind not in _STAGE_KEYS:
                raise ValueError(
                    f"{where}.type: expected one of {sorted(_STAGE_KEYS)}, got {kind!r}"
                )
            required, optional = _STAGE_KEYS[kind]
            extra = set(spec) - required - optional - {"type"}
            if extra:
                raise ValueError(
                    f"{where}.{sorted(extra)[0]}: unknown key for a {kind} stage "
                    f"(expected: {', '.join(sorted(required | optional))})"
                )
            missing = required - set(spec)
            if missing:
                raise ValueError(f"{where}.{sorted(missing)[0]}: required for a {kind} stage")
            try:
                stage, rate = _build_stage(spec, rate, c, dt)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{where} ({kind}): {err}") from err
            stages.append(stage)
        return cls(stages, fs, rate)

    @property
    def nan_count(self) -> np.ndarray:
        """Non-finite samples seen at the chain's input, per channel."""
        return self.stages[0].nan_count

    def output_length(self, n: int) -> int:
        for st in self.stages:
            n = st.output_length(n)
        return n

    def process(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Run ``x`` through every stage; ``out`` as for the last stage."""
        cur = x
        last = len(self.stages) - 1
        for i, st in enumerate(self.stages):
            if i == last:
                return st.process(cur, out)
            rows = st.output_length(cur.shape[0]) if isinstance(cur, np.ndarray) else 0
            buf = self._buffers[i]
            if buf is None or buf.shape[0] < rows:
                buf = self._buffers[i] = np.empty((max(rows, 1), self.n_channels), self.dtype)
            cur = st.process(cur, buf[:rows])
        raise AssertionError("unreachable")  # pragma: no cover
