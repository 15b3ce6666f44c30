# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The minimal reference biquad kernel of ``bench/bench_filters.py`` (not shipped).

``bench_filters.py`` compiles this file at bench time, with the project's own
compiler flags and Cython directives (``setup.py``), and times it next to
``telemetry.rover.filters.SosFilter``: it is the yardstick for "the attainable
limit" on the machine at hand.

It is the least a safe binding can do, written the way a careful engineer
writes a first kernel:

* the state (``sos``, ``zi``) is bound once; a call checks ``x`` and ``out``
  through the NumPy C API (type, dtype, 2-D, channel count, C-contiguous,
  aligned, writeable ``out`` of the same length): enough for memory safety,
  no typed-memoryview acquisition, no error message worth the name;
* the same transposed direct form II arithmetic, in the same order, section
  after section over the whole chunk, channels innermost (contiguous, so the
  compiler vectorises that loop), the state copied into local arrays;
* the GIL is released around the loop unless the work is tiny (releasing and
  re-taking it costs about as much as filtering one sample), as ours does;
* none of the rest of the contract: no NaN rule, no overlap check between
  ``x`` and ``out``, no allocation of ``out``.
"""

cimport numpy as cnp
from cython cimport floating

import numpy as np

cnp.import_array()

cdef enum:
    MAX_CHANNELS = 64
    GIL_KEPT_BELOW = 1024  # section-channel-samples: shorter work keeps the GIL


cdef void _cascade(const floating* sos, Py_ssize_t n_sections, const floating* x,
                   floating* y, floating* zi, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef floating z0[MAX_CHANNELS]
    cdef floating z1[MAX_CHANNELS]
    cdef floating b0, b1, b2, a1, a2, xi, yi
    cdef const floating* src = x
    cdef Py_ssize_t s, i, k
    for s in range(n_sections):
        b0 = sos[6 * s]
        b1 = sos[6 * s + 1]
        b2 = sos[6 * s + 2]
        a1 = sos[6 * s + 4]
        a2 = sos[6 * s + 5]
        for k in range(c):
            z0[k] = zi[(2 * s) * c + k]
            z1[k] = zi[(2 * s + 1) * c + k]
        for i in range(n):
            for k in range(c):
                xi = src[i * c + k]
                yi = b0 * xi + z0[k]
                z0[k] = b1 * xi - a1 * yi + z1[k]
                z1[k] = b2 * xi - a2 * yi
                y[i * c + k] = yi
        for k in range(c):
            zi[(2 * s) * c + k] = z0[k]
            zi[(2 * s + 1) * c + k] = z1[k]
        src = y


cdef inline bint _fits(cnp.ndarray a, int typenum, Py_ssize_t c):
    return (cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_NDIM(a) == 2
            and cnp.PyArray_DIM(a, 1) == c and cnp.PyArray_IS_C_CONTIGUOUS(a)
            and cnp.PyArray_ISALIGNED(a))


cdef class MinimalSos:
    """``MinimalSos(sos, zi).run(x, out)``: scipy's layouts, float32 or float64."""
    cdef cnp.ndarray sos
    cdef cnp.ndarray zi
    cdef Py_ssize_t n_sections
    cdef Py_ssize_t c
    cdef int typenum

    def __init__(self, sos, zi):
        ns, c = np.shape(sos)[0], np.shape(zi)[2]
        if (sos.dtype not in (np.float32, np.float64) or zi.dtype != sos.dtype
                or sos.shape != (ns, 6) or zi.shape != (ns, 2, c) or c > MAX_CHANNELS
                or not sos.flags.c_contiguous or not zi.flags.c_contiguous):
            raise ValueError("sos (n, 6) and zi (n, 2, c): same float dtype, C-contiguous")
        self.sos = sos
        self.zi = zi
        self.n_sections = ns
        self.c = c
        self.typenum = cnp.PyArray_TYPE(sos)

    cdef inline void _filter(self, void* xp, void* yp, Py_ssize_t n) noexcept nogil:
        cdef void* sp = cnp.PyArray_DATA(self.sos)
        cdef void* zp = cnp.PyArray_DATA(self.zi)
        if self.typenum == cnp.NPY_FLOAT:
            _cascade(<const float*>sp, self.n_sections, <const float*>xp, <float*>yp,
                     <float*>zp, n, self.c)
        else:
            _cascade(<const double*>sp, self.n_sections, <const double*>xp, <double*>yp,
                     <double*>zp, n, self.c)

    def run(self, cnp.ndarray x not None, cnp.ndarray out not None):
        if not (_fits(x, self.typenum, self.c) and _fits(out, self.typenum, self.c)
                and cnp.PyArray_DIM(out, 0) == cnp.PyArray_DIM(x, 0)
                and cnp.PyArray_ISWRITEABLE(out)):
            raise ValueError("x, out: expected matching C-contiguous (n, c) arrays")
        cdef Py_ssize_t n = cnp.PyArray_DIM(x, 0)
        cdef void* xp = cnp.PyArray_DATA(x)
        cdef void* yp = cnp.PyArray_DATA(out)
        if n * self.c * self.n_sections < GIL_KEPT_BELOW:
            self._filter(xp, yp, n)
        else:
            with nogil:
                self._filter(xp, yp, n)
        return out
