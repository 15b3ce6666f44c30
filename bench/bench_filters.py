"""Benchmark the streaming filters against scipy (one run, prints tables; not a test).

1. 4th-order Butterworth low-pass (2 sections), 8 channels, float64 and float32:
   our ``SosFilter.process(x, out=...)`` vs ``scipy.signal.sosfilt`` with carried
   ``zi``, per call at chunk sizes 1 .. 4096.
2. ns per sample per section on a large chunk, next to the arithmetic limit.
3. Streaming Hampel and running median (windows 5 and 31) vs scipy
   ``medfilt``-based equivalents, chunked (16 samples) and on a 1e6-sample array.

Run: ``.venv/bin/python bench/bench_filters.py`` (about 30-60 s).
"""

from __future__ import annotations

import itertools
import platform
import time
from collections.abc import Callable

import numpy as np
from scipy import signal

from telemetry import filters

C = 8
FS = 1000.0
CHUNKS = (1, 16, 64, 256, 4096)
# The arithmetic floor of a biquad section: 5 multiplies + 4 adds per sample, scalar
# float64, on a Zen 4 core (the reference the figures are compared with).
ARITH_LIMIT_NS_ZEN4 = 0.68


def per_call(fn: Callable[[], object], budget_s: float = 0.4, min_calls: int = 5) -> float:
    """Best-of-3 mean seconds per call of ``fn``, each run about ``budget_s / 3``.

    With ``budget_s <= 0`` (the 1e6-sample runs): one timed call, no warm-up.
    """
    if budget_s <= 0:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    calls = max(min_calls, int(budget_s / 3 / one))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bench_sos() -> None:
    sos64 = filters.butter(4, 50.0, FS)
    rng = np.random.default_rng(1)
    print("## 4th-order Butterworth low-pass (2 sections), 8 channels, chunked with carried state")
    print(
        f"{'dtype':7} {'chunk':>6} | {'ours us/call':>12} {'ours ch-samp/s':>15} | "
        f"{'scipy us/call':>13} {'scipy ch-samp/s':>15} | {'ratio':>7}"
    )
    large: dict[str, float] = {}
    for dtype in (np.float64, np.float32):
        sos = sos64.astype(dtype)
        for n in CHUNKS:
            x = rng.standard_normal((n, C)).astype(dtype)
            f = filters.SosFilter(sos, C, dtype)
            out = np.empty_like(x)
            ours = per_call(lambda f=f, x=x, out=out: f.process(x, out))
            state = {"zi": np.zeros((sos.shape[0], 2, C), dtype)}

            def ref(x=x, sos=sos, state=state) -> None:
                _, state["zi"] = signal.sosfilt(sos, x, axis=0, zi=state["zi"])

            theirs = per_call(ref)
            print(
                f"{np.dtype(dtype).name:7} {n:6d} | {ours * 1e6:12.3f} {n * C / ours:15.3e} | "
                f"{theirs * 1e6:13.3f} {n * C / theirs:15.3e} | {theirs / ours:6.1f}x"
            )
        # large chunk: ns per channel-sample per section
        n = 1 << 15
        x = rng.standard_normal((n, C)).astype(dtype)
        out = np.empty_like(x)
        f = filters.SosFilter(sos, C, dtype)
        for size in (4096, n):
            xs = x[:size]
            os_ = out[:size]
            t = per_call(lambda f=f, xs=xs, os_=os_: f.process(xs, os_), budget_s=0.6)
            large[f"{np.dtype(dtype).name} chunk {size}"] = t / (size * C * sos.shape[0]) * 1e9
        zi = np.zeros((sos.shape[0], 2, C), dtype)
        t = per_call(lambda x=x, sos=sos, zi=zi: signal.sosfilt(sos, x, axis=0, zi=zi), 0.6)
        large[f"{np.dtype(dtype).name} chunk {n} scipy"] = t / (n * C * sos.shape[0]) * 1e9
    print()
    print("## ns per (channel-)sample per section, large chunks")
    for k, v in large.items():
        print(f"{k:28} {v:6.3f} ns")
    print(
        f"arithmetic limit (issue, scalar float64, Zen 4): {ARITH_LIMIT_NS_ZEN4:.2f} ns; "
        f"this machine: {cpu_name()}, {platform.machine()}"
    )


class ScipyHampel:
    """Streaming scipy baseline: medfilt over [history, chunk] per call.

    MAD as ``medfilt(|x - med|)`` (the common medfilt-only approximation; the
    exact MAD needs a median per window, which is slower still), so this
    baseline flatters scipy.
    """

    def __init__(self, window: int, threshold: float | None) -> None:
        self.w = window
        self.h = window // 2
        self.t = threshold
        self.keep = 2 * (window - 1) if threshold is not None else window - 1
        self.hist = np.zeros((self.keep, C))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self.hist, x])
        self.hist = buf[-self.keep :]
        med = signal.medfilt(buf, (self.w, 1))
        n = len(x)
        if self.t is None:
            return med[self.h : self.h + n]
        mad = signal.medfilt(np.abs(buf - med), (self.w, 1))
        lo = self.keep - self.h
        c, m, d = buf[lo : lo + n], med[lo : lo + n], mad[lo : lo + n]
        return np.where(np.abs(c - m) > self.t * filters.MAD_SCALE * d, m, c)


def bench_medians() -> None:
    rng = np.random.default_rng(2)
    print()
    print("## Streaming Hampel (threshold 3) and running median, 8 channels, float64")
    print(
        f"{'filter':16} {'window':>6} {'chunk':>8} | {'ours us/call':>13} "
        f"{'ours ch-samp/s':>15} | {'scipy us/call':>13} {'scipy ch-samp/s':>15} | {'ratio':>7}"
    )
    big = rng.standard_normal((1_000_000, C))
    for name, threshold in (("hampel", 3.0), ("running median", None)):
        for w in (5, 31):
            for n in (16, 1_000_000):
                f = (
                    filters.Hampel(w, C, 3.0)
                    if threshold is not None
                    else filters.RunningMedian(w, C)
                )
                ref = ScipyHampel(w, threshold)
                if n < 1000:
                    # fresh data every call (cycling through 4096 chunks): repeating one
                    # chunk would let the branch predictor learn it
                    pieces = [big[i * n : (i + 1) * n] for i in range(4096)]
                    out = np.empty((n, C))
                    it_ours = itertools.cycle(pieces)
                    it_ref = itertools.cycle(pieces)
                    ours = per_call(lambda f=f, it=it_ours, out=out: f.process(next(it), out), 0.3)
                    theirs = per_call(lambda ref=ref, it=it_ref: ref(next(it)), 0.3)
                else:
                    x = big[:n]
                    out = np.zeros_like(x)  # pages touched before timing
                    ours = per_call(lambda f=f, x=x, out=out: f.process(x, out), 0.0)
                    theirs = per_call(lambda ref=ref, x=x: ref(x), 0.0)
                label = "1e6" if n == 1_000_000 else str(n)
                print(
                    f"{name:16} {w:6d} {label:>8} | {ours * 1e6:13.1f} {n * C / ours:15.3e} | "
                    f"{theirs * 1e6:13.1f} {n * C / theirs:15.3e} | {theirs / ours:6.1f}x"
                )


def main() -> None:
    print(f"telemetry.filters implementation: {filters.IMPLEMENTATION}")
    bench_sos()
    bench_medians()


if __name__ == "__main__":
    main()
