"""Build the Cython extensions.

Every ``.pyx`` under the runtime packages is compiled. Flags are portable on
purpose: rover boards are ARM, so nothing here may assume the build host's CPU
(no ``-march=native``).
"""

from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
PACKAGES = ("firmware_bridge", "telemetry", "sim_hw", "control")

extensions = []
for package in PACKAGES:
    for pyx in sorted((HERE / package).rglob("*.pyx")):
        rel = pyx.relative_to(HERE)
        module = ".".join(rel.with_suffix("").parts)
        extensions.append(
            Extension(
                module,
                [str(rel)],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=["-O3"],
            )
        )

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
