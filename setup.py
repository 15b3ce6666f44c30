"""Build the Cython extensions.

Every ``.pyx`` under the runtime packages is compiled. Flags are portable on
purpose: rover boards are ARM, so nothing here may assume the build host's CPU
(no ``-march=native``). ``bench/bench_filters.py`` imports this file (without
running ``setup()``) to build its reference kernel with the very same flags.

Release builds carry no debug information: ``-g0`` after the interpreter's own
flags (which may say ``-g``) and a stripped link. ``RIG_BUILD_DEBUG=1`` in the
environment keeps ``-g`` and the symbols, for profiling (``perf``, ``gdb``):
``RIG_BUILD_DEBUG=1 pip wheel --no-deps .`` or ``RIG_BUILD_DEBUG=1 make install``.
"""

import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
PACKAGES = ("firmware_bridge", "telemetry", "sim_hw", "control")

DEBUG = os.environ.get("RIG_BUILD_DEBUG", "") not in ("", "0")
# -ffp-contract=off: no fused multiply-add. aarch64 has FMA in its base ISA and GCC
# contracts a*b+c into one rounding by default, so the kernels differed from their
# NumPy twin by an ulp (float64) and a bandpass by 2.7e-5 (float32) on arm64 while
# x86-64 (no FMA without -march) matched; `make arm64-check` found it.
EXTRA_COMPILE_ARGS = ["-O3", "-ffp-contract=off", "-g" if DEBUG else "-g0"]
EXTRA_LINK_ARGS = [] if DEBUG else ["-s"]
CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}


def extension(module: str, source: str) -> Extension:
    """One extension module with the project's portable flags."""
    return Extension(
        module,
        [source],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=list(EXTRA_COMPILE_ARGS),
        extra_link_args=list(EXTRA_LINK_ARGS),
    )


def extensions() -> list[Extension]:
    found = []
    for package in PACKAGES:
        for pyx in sorted((HERE / package).rglob("*.pyx")):
            rel = pyx.relative_to(HERE)
            found.append(extension(".".join(rel.with_suffix("").parts), str(rel)))
    return found


if __name__ == "__main__":  # setuptools runs this file as __main__
    setup(ext_modules=cythonize(extensions(), compiler_directives=CYTHON_DIRECTIVES))
