"""A compiled extension for the tests, or a stand-in that fails every test using it."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


class MissingExtension:
    """Stands in for an unbuilt extension so its variants FAIL with the reason, never skip."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __getattr__(self, name: str):
        pytest.fail(f"{self.module} is not built (needed for {name}): run pip install -e .",
                    pytrace=False)


def compiled(module: str) -> ModuleType | MissingExtension:
    """``import module``, or a ``MissingExtension`` if it cannot be imported."""
    try:
        return importlib.import_module(module)
    except ImportError:  # the tests that use it fail loudly
        return MissingExtension(module)


def uses_compiled(facade: ModuleType, extension: ModuleType | MissingExtension,
                  force_env: str) -> bool:
    """Check which kernel a ``rig_common.kernels.load`` facade took: the pure twin when
    ``force_env=1`` (returns False), else the built *extension* (returns True; fails,
    never skips, if it is not built or the facade fell back to the twin)."""
    if os.environ.get(force_env) == "1":
        assert facade.IMPLEMENTATION == "pure"
        return False
    assert not isinstance(extension, MissingExtension), \
        f"{extension.module} is not built: run pip install -e ."
    assert facade.IMPLEMENTATION == "compiled"
    assert extension.__file__ is not None and extension.__file__.endswith((".so", ".pyd"))
    return True
