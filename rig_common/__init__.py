"""Small utilities every room may import: bounded numbers, TOML files, backoff,
the choice of a compiled kernel or its twin (``rig_common.kernels``).

This package is the floor beside ``firmware_bridge``: it imports nothing of ours,
so ``control``, ``telemetry`` (contract, downlink, ground tools) and ``sim_hw``
may all use it without creating an import arrow between them. Each helper takes
the caller's exception type (``error(key, problem)``), so an error still belongs
to the caller's exception tree and names the caller's key.
"""

from .bounded import BoundsError, ErrorFactory, bounded_problem, finite_in, int_in
from .toml_file import TomlFileError, load_toml

__all__ = [
    "BoundsError",
    "ErrorFactory",
    "TomlFileError",
    "bounded_problem",
    "finite_in",
    "int_in",
    "load_toml",
]
