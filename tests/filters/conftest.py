"""Fixtures for the filter tests: every test taking ``filt`` runs on both implementations."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest

from telemetry.rover import filters
from telemetry.rover.filters import backend

IMPLEMENTATIONS = ("compiled", "pure")


def kernel_module(name: str) -> ModuleType:
    """The kernel module for ``name``; importing the compiled one must not fail."""
    if name == "compiled":
        return importlib.import_module("telemetry.rover.filters._filters")
    return importlib.import_module("telemetry.rover.filters._filters_ref")


@pytest.fixture(params=IMPLEMENTATIONS)
def filt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``telemetry.rover.filters`` with its kernels switched to one implementation."""
    monkeypatch.setattr(backend, "kernels", kernel_module(request.param))
    yield filters


@pytest.fixture
def filter_rng() -> np.random.Generator:
    return np.random.default_rng(20240605)


def random_splits(n: int, rng: np.random.Generator, max_chunk: int = 40) -> list[int]:
    """Chunk boundaries covering [0, n): random sizes, always including 0 and 1."""
    sizes = [0, 1]
    while sum(sizes) < n:
        sizes.append(int(rng.integers(0, max_chunk)))
    sizes[-1] -= sum(sizes) - n
    rng.shuffle(sizes)
    return [int(s) for s in np.cumsum(sizes)]


def run_chunked(process, x: np.ndarray, bounds: list[int]) -> np.ndarray:
    """Feed ``x`` through ``process`` in the chunks ending at ``bounds``; concatenate."""
    outs, start = [], 0
    for end in bounds:
        outs.append(process(x[start:end]))
        start = end
    return np.concatenate(outs)
