"""A compiled extension for the tests, or a stand-in that fails every test using it."""

from __future__ import annotations

import importlib
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
