"""Which implementation is loaded, and that the fallback is never silent."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys

import pytest

from telemetry.rover import filters
from telemetry.rover.filters import backend


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != filters.ENV_FORCE_PURE}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_compiled_kernels_are_loaded_by_default() -> None:
    """Fails if the rover would run the pure twin: the .so must be built and imported."""
    if os.environ.get(filters.ENV_FORCE_PURE, "") not in ("", "0"):
        assert filters.IMPLEMENTATION == "pure"
        pytest.skip(f"{filters.ENV_FORCE_PURE} is set: the pure twin was asked for")
    assert filters.IMPLEMENTATION == "compiled"
    from telemetry.rover.filters import _filters

    assert backend.kernels is _filters
    assert _filters.__file__ is not None
    assert _filters.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert type(filters.SosFilter([[1, 0, 0, 1, 0, 0]], 1)._kernel).__module__ == (
        "telemetry.rover.filters._filters"
    )


def test_env_var_forces_the_pure_twin() -> None:
    res = _run(
        "from telemetry.rover import filters; "
        "from telemetry.rover.filters import _filters_ref, backend; "
        "assert filters.IMPLEMENTATION == 'pure', filters.IMPLEMENTATION; "
        "assert backend.kernels is _filters_ref",
        RIG_FILTERS_PURE="1",
    )
    assert res.returncode == 0, res.stderr


def test_failed_import_falls_back_loudly() -> None:
    res = _run(
        "import sys, logging; logging.basicConfig(); "
        "sys.modules['telemetry.rover.filters._filters'] = None; "
        "from telemetry.rover import filters; "
        "assert filters.IMPLEMENTATION == 'pure'"
    )
    assert res.returncode == 0, res.stderr
    assert "ERROR:telemetry.rover.filters" in res.stderr
    assert "FALLING BACK" in res.stderr
