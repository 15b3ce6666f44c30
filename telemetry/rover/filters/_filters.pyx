# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled streaming filter kernels (the twin is ``telemetry.rover.filters._filters_ref``).

Theory of operation
-------------------
Every kernel has the shape of scipy's ``signal/_sosfilt.pyx``: a
``cdef ... noexcept nogil`` loop over C-contiguous (samples, channels) data,
float32/float64 through a fused type, with the caller-owned state (``zi``,
ring buffers, accumulators) updated in place, so filtering a stream in chunks
gives exactly the output of one call over the whole stream.

The ``*Kernel`` classes bind a kernel to its state arrays once (the public
module validates them at construction), so a call only has to check ``x`` and
``out``. That check uses the NumPy C API instead of acquiring typed
memoryviews: at one sample per call a memoryview acquisition per argument costs
more than the arithmetic, so the kernels below take raw pointers into arrays
whose layout has already been checked. When the fast check fails, the twin's
checker is called to raise the same, precise error as the pure implementation.

Rules
-----
* No allocation in the loops; with ``out=`` given, none per call at all.
* The GIL is released around every loop that does more than about a
  microsecond of work (``GIL_KEPT_BELOW`` element-operations); below that,
  releasing and re-taking it would cost more than the loop (about 50 ns, a
  third of a one-sample call), so short calls keep it, as NumPy's ufuncs do.
* NaN rule (documented in ``telemetry.rover.filters``): a non-finite input sample is
  replaced by the channel's last finite one (``hold``) and counted in
  ``nan_count``, before it reaches any state.
* Arithmetic is written in the same order as the twin (and as scipy's
  ``sosfilt``), so results match to the last bit where the compiler does not
  contract to FMA.
"""

cimport cython
cimport numpy as cnp
from cython cimport floating
from libc.math cimport sqrt, INFINITY
from libc.stdint cimport int64_t

import numpy as np

from telemetry.rover.filters import _filters_ref as _ref

cnp.import_array()

__all__ = ["DecimateKernel", "EmaKernel", "MedianKernel", "SosKernel", "StatsKernel"]

# Samples per pass of the section-outer biquad loop: keeps a pass over 8
# float64 channels (16 KiB) in L1 while every section sweeps it.
cdef enum:
    BLOCK = 256
    N_STATS = 5
    # Work (samples x channels x sections, or x window) below which a call keeps the GIL.
    GIL_KEPT_BELOW = 1024


# --------------------------------------------------------------------------- NaN rule

cdef inline bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """True if no sample is NaN or infinite: x - x is 0 for finite x, NaN otherwise.

    Eight independent lanes so the compiler can vectorise the sum; the lanes are
    then tested one by one (independent compares), not summed: a serial sum of
    eight lanes would cost more than the whole scan of a one-sample call.
    """
    cdef floating lane[8]
    cdef floating tail = 0
    cdef Py_ssize_t i = 0, k
    cdef bint finite
    for k in range(8):
        lane[k] = 0
    while i + 8 <= n:
        for k in range(8):
            lane[k] = lane[k] + (x[i + k] - x[i + k])
        i += 8
    while i < n:
        tail = tail + (x[i] - x[i])
        i += 1
    finite = tail == 0
    for k in range(8):
        finite = finite & (lane[k] == 0)
    return finite


cdef inline floating _guarded(floating v, floating* hold, int64_t* nan_count) noexcept nogil:
    """The NaN rule for one sample of one channel (``hold``/``nan_count`` point at it)."""
    if v - v != 0:  # NaN or +-inf
        nan_count[0] += 1
        return hold[0]
    hold[0] = v
    return v


cdef void _guard_copy(const floating* x, floating* y, floating* hold, int64_t* nan_count,
                      Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i, k
    for i in range(n):
        for k in range(c):
            y[i * c + k] = _guarded(x[i * c + k], &hold[k], &nan_count[k])


# --------------------------------------------------------------------------- biquads

# The biquad cascade is written in C (verbatim below) because it uses GCC/clang
# vector extensions, which Cython cannot express. Vectors are 16 bytes: the SIMD
# width every x86-64 (SSE2) and every aarch64 (NEON) CPU has, so they need no
# -m flag and the build stays portable; other compilers get one-lane "vectors"
# (plain scalars). Lanes are channels: the arithmetic per channel is the twin's,
# in the twin's order, whatever the lane, so results do not depend on the chunking.
#
# Why it is fast: a biquad is a recurrence whose latency per sample (add -> mul ->
# sub -> add) is several times its arithmetic cost, so one channel alone runs at
# a fraction of the machine's throughput. A pass keeps eight channels (two or
# four vectors) of two consecutive sections in registers and runs both sections
# sample by sample: 8 to 16 independent recurrences are in flight, enough to keep
# the floating-point units busy, and float32 gets twice the lanes of float64.
# Busy is measured: doubling or quadrupling the channels (more recurrences in
# flight) leaves the ns per channel-sample where it is (``bench/bench_filters.py``
# prints it), so both dtypes run at the units' throughput and float32 can gain
# over float64 at most its lane count, 2x. Reordering the update to shorten the
# dependency chain (``(b1*x + z1) - a1*y``) was measured too and gained nothing.
cdef extern from *:
    """
    #include <string.h>
    #if defined(__GNUC__) || defined(__clang__)
    typedef double rig_vf64 __attribute__((vector_size(16)));
    typedef float rig_vf32 __attribute__((vector_size(16)));
    #define RIG_INLINE static inline __attribute__((always_inline))
    #else
    typedef double rig_vf64;
    typedef float rig_vf32;
    #define RIG_INLINE static inline
    #endif
    #define RIG_BLOCK 256  /* samples per pass: a block of 8 float64 channels is 16 KiB */

    /* One pass over n samples of channels c0 .. c0 + K*lanes(V) - 1 through the
       section at sos/zi (two == 0) or it and the next (two == 1). zi points at the
       section's (2, c) state block, scipy's layout. K and two are literals at every
       call: after inlining, the lane loops unroll and the state lives in registers. */
    #define RIG_SOS_PASS(NAME, T, V)                                                   \\
    RIG_INLINE V NAME##_load(const T *p) { V v; memcpy(&v, p, sizeof v); return v; }   \\
    RIG_INLINE void NAME##_store(T *p, V v) { memcpy(p, &v, sizeof v); }               \\
    RIG_INLINE void NAME(const T *sos, const T *x, T *y, T *zi, Py_ssize_t n,          \\
                         Py_ssize_t c, Py_ssize_t c0, const int K, const int two)      \\
    {                                                                                  \\
        enum { L = sizeof(V) / sizeof(T) };                                           \\
        const T b0 = sos[0], b1 = sos[1], b2 = sos[2], a1 = sos[4], a2 = sos[5];       \\
        const T d0 = two ? sos[6] : 0, d1 = two ? sos[7] : 0, d2 = two ? sos[8] : 0;   \\
        const T e1 = two ? sos[10] : 0, e2 = two ? sos[11] : 0;                        \\
        V p0[8], p1[8], q0[8], q1[8];                                                  \\
        int k;                                                                         \\
        for (k = 0; k < K; k++) {                                                      \\
            p0[k] = NAME##_load(zi + c0 + k * L);                                      \\
            p1[k] = NAME##_load(zi + c + c0 + k * L);                                  \\
            if (two) {                                                                 \\
                q0[k] = NAME##_load(zi + 2 * c + c0 + k * L);                          \\
                q1[k] = NAME##_load(zi + 3 * c + c0 + k * L);                          \\
            }                                                                          \\
        }                                                                              \\
        for (Py_ssize_t i = 0; i < n; i++) {                                           \\
            for (k = 0; k < K; k++) {                                                  \\
                V xi = NAME##_load(x + i * c + c0 + k * L);                            \\
                V yi = b0 * xi + p0[k];                                                \\
                p0[k] = b1 * xi - a1 * yi + p1[k];                                     \\
                p1[k] = b2 * xi - a2 * yi;                                             \\
                if (two) {                                                             \\
                    V yj = d0 * yi + q0[k];                                            \\
                    q0[k] = d1 * yi - e1 * yj + q1[k];                                 \\
                    q1[k] = d2 * yi - e2 * yj;                                         \\
                    yi = yj;                                                           \\
                }                                                                      \\
                NAME##_store(y + i * c + c0 + k * L, yi);                              \\
            }                                                                          \\
        }                                                                              \\
        for (k = 0; k < K; k++) {                                                      \\
            NAME##_store(zi + c0 + k * L, p0[k]);                                      \\
            NAME##_store(zi + c + c0 + k * L, p1[k]);                                  \\
            if (two) {                                                                 \\
                NAME##_store(zi + 2 * c + c0 + k * L, q0[k]);                          \\
                NAME##_store(zi + 3 * c + c0 + k * L, q1[k]);                          \\
            }                                                                          \\
        }                                                                              \\
    }

    /* Sections in pairs (then the odd one alone), blocks of RIG_BLOCK samples so that
       a later pair reads the earlier pair's output from L1; channels in groups of 8,
       then 4 (vectors), then one vector of 2 (float64) and the last few as scalars. */
    #define RIG_SOS_CASCADE(SFX, T)                                                    \\
    RIG_SOS_PASS(rig_vpass_##SFX, T, rig_v##SFX)                                       \\
    RIG_SOS_PASS(rig_spass_##SFX, T, T)                                                \\
    RIG_INLINE void rig_group_##SFX(const T *sos, const T *x, T *y, T *zi,             \\
                                    Py_ssize_t n, Py_ssize_t c, const int two)         \\
    {                                                                                  \\
        enum { L = sizeof(rig_v##SFX) / sizeof(T) };                                   \\
        Py_ssize_t c0 = 0;                                                             \\
        for (; c0 + 8 <= c; c0 += 8)                                                   \\
            rig_vpass_##SFX(sos, x, y, zi, n, c, c0, 8 / L, two);                      \\
        if (L <= 4 && c - c0 >= 4) {                                                   \\
            rig_vpass_##SFX(sos, x, y, zi, n, c, c0, 4 / L, two);                      \\
            c0 += 4;                                                                   \\
        }                                                                              \\
        if (L == 2 && c - c0 >= 2) {                                                   \\
            rig_vpass_##SFX(sos, x, y, zi, n, c, c0, 1, two);                          \\
            c0 += 2;                                                                   \\
        }                                                                              \\
        switch (c - c0) {                                                              \\
        case 3: rig_spass_##SFX(sos, x, y, zi, n, c, c0, 3, two); break;               \\
        case 2: rig_spass_##SFX(sos, x, y, zi, n, c, c0, 2, two); break;               \\
        case 1: rig_spass_##SFX(sos, x, y, zi, n, c, c0, 1, two); break;               \\
        }                                                                              \\
    }                                                                                  \\
    static void rig_sos_cascade_##SFX(const T *sos, Py_ssize_t n_sections,            \\
                                      const T *x, T *y, T *zi, Py_ssize_t n,           \\
                                      Py_ssize_t c)                                    \\
    {                                                                                  \\
        for (Py_ssize_t i0 = 0; i0 < n; i0 += RIG_BLOCK) {                             \\
            Py_ssize_t nb = n - i0 < RIG_BLOCK ? n - i0 : RIG_BLOCK;                   \\
            const T *src = x + i0 * c;                                                 \\
            for (Py_ssize_t s = 0; s < n_sections; s += 2) {                           \\
                if (s + 1 < n_sections)                                                \\
                    rig_group_##SFX(sos + 6 * s, src, y + i0 * c, zi + 2 * s * c,      \\
                                    nb, c, 1);                                         \\
                else                                                                   \\
                    rig_group_##SFX(sos + 6 * s, src, y + i0 * c, zi + 2 * s * c,      \\
                                    nb, c, 0);                                         \\
                src = y + i0 * c;                                                      \\
            }                                                                          \\
        }                                                                              \\
    }

    RIG_SOS_CASCADE(f64, double)
    RIG_SOS_CASCADE(f32, float)
    """
    void rig_sos_cascade_f64(const double* sos, Py_ssize_t n_sections, const double* x,
                             double* y, double* zi, Py_ssize_t n, Py_ssize_t c) noexcept nogil
    void rig_sos_cascade_f32(const float* sos, Py_ssize_t n_sections, const float* x,
                             float* y, float* zi, Py_ssize_t n, Py_ssize_t c) noexcept nogil


cdef void _sos_run(const floating* sos, Py_ssize_t n_sections, const floating* x, floating* y,
                   floating* zi, floating* hold, int64_t* nan_count,
                   Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    """Biquad cascade over a (n, c) block; ``y`` must not overlap ``x``.

    Fast path: one cheap vectorised scan proves the block finite, then the
    sections read ``x`` directly. Otherwise the NaN rule is applied while
    copying into ``y`` and the sections run in place on ``y``.
    """
    cdef const floating* src = x
    cdef Py_ssize_t k
    if n == 0:
        return
    if _all_finite(x, n * c):
        for k in range(c):
            hold[k] = x[(n - 1) * c + k]
    else:
        _guard_copy(x, y, hold, nan_count, n, c)
        src = y
    if floating is double:
        rig_sos_cascade_f64(sos, n_sections, src, y, zi, n, c)
    else:
        rig_sos_cascade_f32(sos, n_sections, src, y, zi, n, c)


# --------------------------------------------------------------------------- one-pole

cdef void _ema_run(floating alpha, const floating* x, floating* y, floating* zi,
                   floating* hold, int64_t* nan_count, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i, k
    cdef floating v, z
    for i in range(n):
        for k in range(c):
            v = _guarded(x[i * c + k], &hold[k], &nan_count[k])
            z = zi[k]
            z = z + alpha * (v - z)
            zi[k] = z
            y[i * c + k] = z


# --------------------------------------------------------------------------- medians

cdef void _median_run(const floating* x, floating* y, floating* ring, floating* srt,
                      int64_t* pos, bint hampel, floating scale,
                      floating* hold, int64_t* nan_count,
                      Py_ssize_t n, Py_ssize_t c, Py_ssize_t w) noexcept nogil:
    """Trailing-window median (or Hampel) per channel with a sorted insertion window.

    Per sample and channel: overwrite the oldest value in the ring, find it in
    the sorted copy (by counting smaller values), and slide the new value into place
    (O(window) moves, no sort). MAD for the Hampel test: with m = srt[h], the
    deviations are m - srt[h-1], m - srt[h-2], ... and srt[h+1] - m, ... (two
    ascending runs) plus 0, so the MAD is the h-th pick of merging the runs.
    """
    cdef Py_ssize_t h = w // 2
    cdef Py_ssize_t p = pos[0]
    cdef Py_ssize_t i, k, j, centre, li, ri, t
    cdef bint left
    cdef floating v, old, m, xc, d, dl, dr, mad
    cdef floating* r
    cdef floating* g
    for i in range(n):
        centre = p - h
        if centre < 0:
            centre += w
        for k in range(c):
            v = _guarded(x[i * c + k], &hold[k], &nan_count[k])
            r = srt + k * w
            g = ring + k * w
            old = g[p]
            g[p] = v
            # position of ``old``: count of smaller values, branch-free (the data
            # are noise, so a binary search mispredicts on every step)
            j = 0
            for t in range(w):
                j += r[t] < old
            if v > old:
                while j + 1 < w and r[j + 1] < v:
                    r[j] = r[j + 1]
                    j += 1
            else:
                while j > 0 and r[j - 1] > v:
                    r[j] = r[j - 1]
                    j -= 1
            r[j] = v
            m = r[h]
            if hampel:
                xc = g[centre]
                mad = 0
                li = h - 1
                ri = h + 1
                for t in range(h):  # branch-free merge step
                    dl = m - r[li]
                    dr = r[ri] - m
                    left = dl <= dr
                    mad = dl if left else dr
                    li -= left
                    ri += 1 - left
                d = xc - m
                if d < 0:
                    d = -d
                y[i * c + k] = m if d > scale * mad else xc
            else:
                y[i * c + k] = m
        p += 1
        if p == w:
            p = 0
    pos[0] = p


# --------------------------------------------------------------------------- statistics

cdef Py_ssize_t _stats_run(const floating* x, floating* y, double* acc, int64_t* count,
                           Py_ssize_t window, floating* hold, int64_t* nan_count,
                           Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i, k, rows = 0
    cdef Py_ssize_t cnt = count[0]
    cdef double d
    cdef double* s = acc
    cdef double* sq = acc + c
    cdef double* mn = acc + 2 * c
    cdef double* mx = acc + 3 * c
    cdef floating* row
    for i in range(n):
        for k in range(c):
            d = _guarded(x[i * c + k], &hold[k], &nan_count[k])
            s[k] = s[k] + d
            sq[k] = sq[k] + d * d
            if d < mn[k]:
                mn[k] = d
            if d > mx[k]:
                mx[k] = d
        cnt += 1
        if cnt == window:
            row = y + rows * N_STATS * c
            for k in range(c):
                row[k] = <floating>(s[k] / window)
                row[c + k] = <floating>mn[k]
                row[2 * c + k] = <floating>mx[k]
                row[3 * c + k] = <floating>sqrt(sq[k] / window)
                row[4 * c + k] = <floating>(mx[k] - mn[k])
                s[k] = 0
                sq[k] = 0
                mn[k] = INFINITY
                mx[k] = -INFINITY
            rows += 1
            cnt = 0
    count[0] = cnt
    return rows


# --------------------------------------------------------------------------- bindings

cdef inline bint _is_block(object a, int typenum, Py_ssize_t c):
    """Fast form of ``_ref.check_block``: an aligned, native, C-contiguous (n, c) array."""
    if not cnp.PyArray_Check(a):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(arr) == typenum and cnp.PyArray_NDIM(arr) == 2
            and cnp.PyArray_DIM(arr, 1) == c and cnp.PyArray_IS_C_CONTIGUOUS(arr)
            and cnp.PyArray_ISNOTSWAPPED(arr) and cnp.PyArray_ISALIGNED(arr))


cdef inline bint _overlap(cnp.ndarray a, cnp.ndarray b):
    """Whether two checked (n, c) C-contiguous blocks share memory (sizes inline: the
    C API's NBYTES is a call through NumPy's function table)."""
    cdef char* pa = <char*>cnp.PyArray_DATA(a)
    cdef char* pb = <char*>cnp.PyArray_DATA(b)
    cdef Py_ssize_t na = (cnp.PyArray_DIM(a, 0) * cnp.PyArray_DIM(a, 1)
                          * cnp.PyArray_ITEMSIZE(a))
    cdef Py_ssize_t nb = (cnp.PyArray_DIM(b, 0) * cnp.PyArray_DIM(b, 1)
                          * cnp.PyArray_ITEMSIZE(b))
    return na > 0 and nb > 0 and pa < pb + nb and pb < pa + na


cdef cnp.ndarray _state(object arr, object dtype, tuple shape, str name):
    """Check a state array once, at binding time (memory safety for the raw pointers)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(arr).__name__}")
    if arr.dtype != np.dtype(dtype):
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype).name}, got {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not arr.flags.c_contiguous or not arr.flags.writeable or not arr.flags.aligned:
        raise ValueError(f"{name}: expected a writeable, aligned, C-contiguous array")
    return <cnp.ndarray>arr


cdef class _Kernel:
    cdef readonly object dtype
    cdef readonly Py_ssize_t n_channels
    cdef int typenum
    cdef bint f32
    cdef readonly cnp.ndarray hold
    cdef readonly cnp.ndarray nan_count
    cdef void* hold_p
    cdef int64_t* nan_p
    cdef bint exact_rows  # the output has exactly ``_rows(n)`` rows (else at least that many)

    cdef _bind_guard(self, object dtype, Py_ssize_t c, object hold, object nan_count):
        self.dtype = np.dtype(dtype)
        if self.dtype != np.float64 and self.dtype != np.float32:
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.f32 = self.dtype == np.float32
        self.typenum = cnp.NPY_FLOAT if self.f32 else cnp.NPY_DOUBLE
        self.n_channels = c
        self.hold = _state(hold, self.dtype, (c,), "hold")
        self.nan_count = _state(nan_count, np.int64, (c,), "nan_count")
        self.hold_p = cnp.PyArray_DATA(self.hold)
        self.nan_p = <int64_t*>cnp.PyArray_DATA(self.nan_count)
        self.exact_rows = True

    # One ``run`` for every kernel with a (rows, channels) output: a kernel says how
    # many rows ``n`` input samples give, how much work they are (to keep the GIL for
    # small calls, where releasing it costs more than it saves) and how to filter.
    cdef Py_ssize_t _rows(self, Py_ssize_t n):
        return n

    cdef Py_ssize_t _work(self, Py_ssize_t n):
        return n * self.n_channels

    cdef void _filter(self, const void* xp, void* yp, Py_ssize_t n) noexcept nogil:
        pass

    def run(self, x, out=None):
        cdef cnp.ndarray xa = self._input(x)
        cdef Py_ssize_t n = cnp.PyArray_DIM(xa, 0)
        cdef Py_ssize_t rows = self._rows(n)
        cdef cnp.ndarray ya = self._output(out, xa, rows, self.exact_rows)
        cdef void* xp = cnp.PyArray_DATA(xa)
        cdef void* yp = cnp.PyArray_DATA(ya)
        if self._work(n) < GIL_KEPT_BELOW:
            self._filter(xp, yp, n)
        else:
            with nogil:
                self._filter(xp, yp, n)
        if cnp.PyArray_DIM(ya, 0) == rows:
            return ya
        return ya[:rows]

    @cython.final
    cdef cnp.ndarray _input(self, object x):
        if not _is_block(x, self.typenum, self.n_channels):
            _ref.check_block(x, self.n_channels, self.dtype, "x")
            raise ValueError("x: unsupported array layout")  # pragma: no cover
        return <cnp.ndarray>x

    @cython.final
    cdef cnp.ndarray _output(self, object out, cnp.ndarray x, Py_ssize_t rows, bint exact):
        cdef cnp.npy_intp dims[2]
        if out is None:
            dims[0] = rows
            dims[1] = self.n_channels
            return cnp.PyArray_EMPTY(2, dims, self.typenum, 0)
        if not (_is_block(out, self.typenum, self.n_channels)
                and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)
                and (cnp.PyArray_DIM(<cnp.ndarray>out, 0) == rows if exact
                     else cnp.PyArray_DIM(<cnp.ndarray>out, 0) >= rows)
                and not _overlap(<cnp.ndarray>out, x)):
            _ref.check_out(out, x, rows, self.n_channels, self.dtype, exact)
            raise ValueError("out: unsupported array layout")  # pragma: no cover
        return <cnp.ndarray>out


cdef class SosKernel(_Kernel):
    """Biquad cascade bound to its state; ``zi`` is (sections, 2, channels) as in scipy."""
    cdef readonly cnp.ndarray sos
    cdef readonly cnp.ndarray zi
    cdef Py_ssize_t n_sections
    cdef void* sos_p
    cdef void* zi_p

    def __init__(self, sos, zi, hold, nan_count):
        cdef Py_ssize_t ns = np.shape(sos)[0]
        cdef Py_ssize_t c = np.shape(zi)[2]
        self._bind_guard(np.asarray(sos).dtype, c, hold, nan_count)
        self.sos = _state(sos, self.dtype, (ns, 6), "sos")
        self.zi = _state(zi, self.dtype, (ns, 2, c), "zi")
        self.n_sections = ns
        self.sos_p = cnp.PyArray_DATA(self.sos)
        self.zi_p = cnp.PyArray_DATA(self.zi)

    cdef Py_ssize_t _work(self, Py_ssize_t n):
        return n * self.n_channels * self.n_sections

    cdef void _filter(self, const void* xp, void* yp, Py_ssize_t n) noexcept nogil:
        if self.f32:
            _sos_run(<const float*>self.sos_p, self.n_sections, <const float*>xp,
                     <float*>yp, <float*>self.zi_p, <float*>self.hold_p, self.nan_p,
                     n, self.n_channels)
        else:
            _sos_run(<const double*>self.sos_p, self.n_sections, <const double*>xp,
                     <double*>yp, <double*>self.zi_p, <double*>self.hold_p, self.nan_p,
                     n, self.n_channels)



cdef class EmaKernel(_Kernel):
    """One-pole smoother ``z += alpha * (x - z)`` bound to its state ``zi`` (channels,)."""
    cdef readonly cnp.ndarray zi
    cdef readonly double alpha
    cdef void* zi_p

    def __init__(self, double alpha, zi, hold, nan_count):
        cdef Py_ssize_t c = np.shape(zi)[0]
        self._bind_guard(np.asarray(zi).dtype, c, hold, nan_count)
        self.zi = _state(zi, self.dtype, (c,), "zi")
        self.alpha = alpha
        self.zi_p = cnp.PyArray_DATA(self.zi)

    cdef void _filter(self, const void* xp, void* yp, Py_ssize_t n) noexcept nogil:
        if self.f32:
            _ema_run(<float>self.alpha, <const float*>xp, <float*>yp, <float*>self.zi_p,
                     <float*>self.hold_p, self.nan_p, n, self.n_channels)
        else:
            _ema_run(self.alpha, <const double*>xp, <double*>yp, <double*>self.zi_p,
                     <double*>self.hold_p, self.nan_p, n, self.n_channels)



cdef class MedianKernel(_Kernel):
    """Running median, or Hampel filter when ``scale`` is not None (see the twin)."""
    cdef readonly cnp.ndarray ring
    cdef readonly cnp.ndarray srt
    cdef readonly cnp.ndarray pos
    cdef readonly object scale
    cdef Py_ssize_t window
    cdef bint hampel
    cdef double scale_v
    cdef void* ring_p
    cdef void* srt_p
    cdef int64_t* pos_p

    def __init__(self, ring, srt, pos, hold, nan_count, scale):
        cdef Py_ssize_t c = np.shape(ring)[0]
        cdef Py_ssize_t w = np.shape(ring)[1]
        self._bind_guard(np.asarray(ring).dtype, c, hold, nan_count)
        if w < 1 or w % 2 == 0:
            raise ValueError(f"window: expected an odd number >= 1, got {w}")
        self.ring = _state(ring, self.dtype, (c, w), "ring")
        self.srt = _state(srt, self.dtype, (c, w), "srt")
        self.pos = _state(pos, np.int64, (1,), "pos")
        if not 0 <= pos[0] < w:
            raise ValueError(f"pos: expected 0 <= pos < {w}, got {pos[0]}")
        self.window = w
        self.scale = scale
        self.hampel = scale is not None
        self.scale_v = float(scale) if self.hampel else 0.0
        self.ring_p = cnp.PyArray_DATA(self.ring)
        self.srt_p = cnp.PyArray_DATA(self.srt)
        self.pos_p = <int64_t*>cnp.PyArray_DATA(self.pos)

    cdef Py_ssize_t _work(self, Py_ssize_t n):
        return n * self.n_channels * self.window

    cdef void _filter(self, const void* xp, void* yp, Py_ssize_t n) noexcept nogil:
        if self.f32:
            _median_run(<const float*>xp, <float*>yp, <float*>self.ring_p,
                        <float*>self.srt_p, self.pos_p, self.hampel, <float>self.scale_v,
                        <float*>self.hold_p, self.nan_p, n, self.n_channels, self.window)
        else:
            _median_run(<const double*>xp, <double*>yp, <double*>self.ring_p,
                        <double*>self.srt_p, self.pos_p, self.hampel, self.scale_v,
                        <double*>self.hold_p, self.nan_p, n, self.n_channels, self.window)



cdef class DecimateKernel(_Kernel):
    """Anti-alias biquads then keep every ``factor``-th sample; ``phase[0]`` = samples
    to drop before the next kept one. Filters through a bound-owned scratch block."""
    cdef readonly cnp.ndarray sos
    cdef readonly cnp.ndarray zi
    cdef readonly cnp.ndarray phase
    cdef readonly Py_ssize_t factor
    cdef Py_ssize_t n_sections
    cdef cnp.ndarray scratch
    cdef void* sos_p
    cdef void* zi_p
    cdef void* scratch_p
    cdef int64_t* phase_p

    def __init__(self, sos, zi, phase, Py_ssize_t factor, hold, nan_count):
        cdef Py_ssize_t ns = np.shape(sos)[0]
        cdef Py_ssize_t c = np.shape(zi)[2]
        self._bind_guard(np.asarray(sos).dtype, c, hold, nan_count)
        if factor < 1:
            raise ValueError(f"factor: expected an integer >= 1, got {factor}")
        self.sos = _state(sos, self.dtype, (ns, 6), "sos")
        self.zi = _state(zi, self.dtype, (ns, 2, c), "zi")
        self.phase = _state(phase, np.int64, (1,), "phase")
        if not 0 <= phase[0] < factor:
            raise ValueError(f"phase: expected 0 <= phase < {factor}, got {phase[0]}")
        self.factor = factor
        self.n_sections = ns
        self.scratch = np.empty((BLOCK, c), self.dtype)
        self.sos_p = cnp.PyArray_DATA(self.sos)
        self.zi_p = cnp.PyArray_DATA(self.zi)
        self.scratch_p = cnp.PyArray_DATA(self.scratch)
        self.phase_p = <int64_t*>cnp.PyArray_DATA(self.phase)
        self.exact_rows = False  # ``out`` may be longer: the kept rows are a prefix

    cdef Py_ssize_t _rows(self, Py_ssize_t n):
        cdef Py_ssize_t p = self.phase_p[0]
        return 0 if n <= p else (n - p - 1) // self.factor + 1

    cdef Py_ssize_t _work(self, Py_ssize_t n):
        return n * self.n_channels * self.n_sections

    cdef void _filter(self, const void* xp, void* yp, Py_ssize_t n) noexcept nogil:
        """Filter ``n`` samples block by block; copy out the kept ones; advance the phase."""
        cdef const char* xb = <const char*>xp
        cdef Py_ssize_t c = self.n_channels
        cdef Py_ssize_t isz = 4 if self.f32 else 8
        cdef Py_ssize_t i0 = 0, nb, q = self.phase_p[0], r = 0, k
        while i0 < n:
            nb = n - i0
            if nb > BLOCK:
                nb = BLOCK
            if self.f32:
                _sos_run(<const float*>self.sos_p, self.n_sections,
                         <const float*>(xb + i0 * c * isz), <float*>self.scratch_p,
                         <float*>self.zi_p, <float*>self.hold_p, self.nan_p, nb, c)
                while q < nb:
                    for k in range(c):
                        (<float*>yp)[r * c + k] = (<float*>self.scratch_p)[q * c + k]
                    r += 1
                    q += self.factor
            else:
                _sos_run(<const double*>self.sos_p, self.n_sections,
                         <const double*>(xb + i0 * c * isz), <double*>self.scratch_p,
                         <double*>self.zi_p, <double*>self.hold_p, self.nan_p, nb, c)
                while q < nb:
                    for k in range(c):
                        (<double*>yp)[r * c + k] = (<double*>self.scratch_p)[q * c + k]
                    r += 1
                    q += self.factor
            q -= nb
            i0 += nb
        self.phase_p[0] = q


cdef class StatsKernel(_Kernel):
    """Per-window mean, min, max, RMS, peak-to-peak (see the twin for the state layout)."""
    cdef readonly cnp.ndarray acc
    cdef readonly cnp.ndarray count
    cdef readonly Py_ssize_t window
    cdef double* acc_p
    cdef int64_t* count_p

    def __init__(self, Py_ssize_t window, acc, count, hold, nan_count):
        cdef Py_ssize_t c = np.shape(acc)[1]
        self._bind_guard(np.asarray(hold).dtype, c, hold, nan_count)
        if window < 1:
            raise ValueError(f"window: expected an integer >= 1, got {window}")
        self.acc = _state(acc, np.float64, (4, c), "acc")
        self.count = _state(count, np.int64, (1,), "count")
        if not 0 <= count[0] < window:
            raise ValueError(f"count: expected 0 <= count < {window}, got {count[0]}")
        self.window = window
        self.acc_p = <double*>cnp.PyArray_DATA(self.acc)
        self.count_p = <int64_t*>cnp.PyArray_DATA(self.count)

    @cython.final
    cdef Py_ssize_t _accumulate(self, const void* xp, void* yp, Py_ssize_t n) noexcept nogil:
        if self.f32:
            return _stats_run(<const float*>xp, <float*>yp, self.acc_p, self.count_p,
                              self.window, <float*>self.hold_p, self.nan_p, n,
                              self.n_channels)
        return _stats_run(<const double*>xp, <double*>yp, self.acc_p, self.count_p,
                          self.window, <double*>self.hold_p, self.nan_p, n, self.n_channels)

    def run(self, x, out=None):  # its own: the output is (windows, stats, channels)
        cdef cnp.ndarray xa = self._input(x)
        cdef Py_ssize_t n = cnp.PyArray_DIM(xa, 0)
        cdef Py_ssize_t rows = (self.count_p[0] + n) // self.window
        cdef Py_ssize_t got
        cdef cnp.npy_intp dims[3]
        cdef cnp.ndarray ya
        if out is None:
            dims[0] = rows
            dims[1] = N_STATS
            dims[2] = self.n_channels
            ya = cnp.PyArray_EMPTY(3, dims, self.typenum, 0)
        else:
            _ref.check_stats_out(out, xa, rows, self.n_channels, self.dtype)
            ya = <cnp.ndarray>out
        cdef void* xp = cnp.PyArray_DATA(xa)
        cdef void* yp = cnp.PyArray_DATA(ya)
        if n * self.n_channels < GIL_KEPT_BELOW:
            got = self._accumulate(xp, yp, n)
        else:
            with nogil:
                got = self._accumulate(xp, yp, n)
        if cnp.PyArray_DIM(ya, 0) == got:
            return ya
        return ya[:got]
