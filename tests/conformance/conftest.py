"""Every test here runs the simulated or loopback firmware on the test's own event loop."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _frozen_heap(frozen_heap: None) -> None:
    """See ``tests/conftest.py``: no full collection of earlier tests' objects mid-test."""
