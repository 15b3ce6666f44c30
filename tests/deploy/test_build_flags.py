"""setup.py's compiler flags: portable, no debug information unless asked, no FMA.

``RIG_BUILD_DEBUG=1`` keeps ``-g`` and the symbols (profiling); ``-ffp-contract=off``
keeps the kernels rounding like their NumPy twins on aarch64, where GCC would fuse
``a*b+c`` (``make arm64-check`` found an ulp in the statistics and 2.7e-5 in a
float32 bandpass). The wheel's sizes are checked in test_installed_package.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SETUP = Path(__file__).resolve().parents[2] / "setup.py"


def load_setup(monkeypatch: pytest.MonkeyPatch, debug: str | None) -> ModuleType:
    if debug is None:
        monkeypatch.delenv("RIG_BUILD_DEBUG", raising=False)
    else:
        monkeypatch.setenv("RIG_BUILD_DEBUG", debug)
    spec = importlib.util.spec_from_file_location("_rig_setup_flags", SETUP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # setup() only runs as __main__
    return module


@pytest.mark.parametrize("debug", [None, "0"])
def test_release_builds_carry_no_debug_information(monkeypatch: pytest.MonkeyPatch,
                                                   debug: str | None) -> None:
    ext = load_setup(monkeypatch, debug).extension("x", "x.pyx")
    assert "-g0" in ext.extra_compile_args and "-g" not in ext.extra_compile_args
    assert ext.extra_link_args == ["-s"]


def test_rig_build_debug_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    ext = load_setup(monkeypatch, "1").extension("x", "x.pyx")
    assert "-g" in ext.extra_compile_args and "-g0" not in ext.extra_compile_args
    assert ext.extra_link_args == []


def test_flags_are_portable_and_never_fuse_multiply_add(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for debug in (None, "1"):
        args = load_setup(monkeypatch, debug).extension("x", "x.pyx").extra_compile_args
        assert "-ffp-contract=off" in args
        assert not [a for a in args if a.startswith(("-march", "-mcpu", "-mtune", "-ffast"))]
