"""Which kernel module the filters run on: the compiled Cython one or its NumPy twin.

``kernels`` is the module in use, ``IMPLEMENTATION`` says which (``"compiled"``
normally; ``"pure"`` when ``RIG_FILTERS_PURE=1`` forces the twin or, logged at
ERROR level, when the compiled module fails to import: the rover must never run
the slow path unnoticed). Filters look ``kernels`` up when they are built, so
tests swap it here to run one suite on both implementations.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

from telemetry.rover.filters import _filters_ref

__all__ = ["ENV_FORCE_PURE", "IMPLEMENTATION", "kernels"]

log = logging.getLogger(__name__)

ENV_FORCE_PURE = "RIG_FILTERS_PURE"


def _load_implementation() -> tuple[ModuleType, str]:
    if os.environ.get(ENV_FORCE_PURE, "") not in ("", "0"):
        log.warning("%s is set: using the pure-NumPy filter kernels", ENV_FORCE_PURE)
        return _filters_ref, "pure"
    try:
        from telemetry.rover.filters import _filters
    except ImportError as err:
        log.error(
            "compiled filter kernels (telemetry.rover.filters._filters) failed to import: %s; "
            "FALLING BACK to the pure-NumPy twin, which is orders of magnitude slower. "
            "Rebuild the extension (pip install -e .)",
            err,
        )
        return _filters_ref, "pure"
    return _filters, "compiled"


# The kernel module in use; looked up when a filter is built, so tests can swap it.
kernels, IMPLEMENTATION = _load_implementation()
