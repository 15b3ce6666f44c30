"""Which of a compiled kernel and its pure-Python twin a package uses.

``load(package, compiled, twin, force_env, what)`` imports ``package.compiled``;
with ``force_env=1`` in the environment it takes ``package.twin`` instead (the
tests and benchmarks run both). If the compiled module cannot be imported the
twin is used and that is logged at ERROR level, naming *what* the kernel does:
the software still works, but a rover must not run the slow path unnoticed.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

__all__ = ["load"]

log = logging.getLogger(__name__)


def load(package: str, compiled: str, twin: str, force_env: str,
         what: str) -> tuple[ModuleType, str]:
    """The module to use and ``"compiled"`` or ``"pure"``."""
    if os.environ.get(force_env) == "1":
        return importlib.import_module(f"{package}.{twin}"), "pure"
    try:
        return importlib.import_module(f"{package}.{compiled}"), "compiled"
    except ImportError as err:
        log.error("compiled %s module %s.%s missing (%s): using the slow pure-Python twin; "
                  "rebuild with `pip install -e .`", what, package, compiled, err)
        return importlib.import_module(f"{package}.{twin}"), "pure"
