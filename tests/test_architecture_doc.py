"""docs/architecture.md names only things that exist, and every room of the import table.

Every backticked ``module:qualified.name`` must import and resolve, every
backticked dotted name under one of our packages must be a module (or a name in
one), and every backticked path must exist. A rename that forgets the page fails here.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from .test_import_directions import ALLOWED, ROOM_OF_PREFIX

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
OURS = ("firmware_bridge", "telemetry", "control", "sim_hw")

SPANS = re.findall(r"`([^`\n]+)`", DOC.read_text())
HOPS = sorted({s for s in SPANS if re.fullmatch(r"[a-z_][\w.]*:[\w.]+", s)})
DOTTED = sorted({s for s in SPANS if re.fullmatch(r"[a-z_]\w*(\.\w+)*", s)
                 and s.split(".")[0] in OURS})
PATHS = sorted({s.rstrip("/") for s in SPANS if "/" in s
                and re.fullmatch(r"[\w.]+(/[\w.]+)*/?", s)})


def resolve(dotted: str) -> object:
    """The module named ``dotted``, or the attribute of the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        if importlib.util.find_spec(name) is None:
            continue
        obj: object = importlib.import_module(name)
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_the_page_names_enough_to_be_checked() -> None:
    assert len(HOPS) >= 40 and len(DOTTED) >= 10 and len(PATHS) >= 3


@pytest.mark.parametrize("hop", HOPS)
def test_every_module_function_hop_exists(hop: str) -> None:
    module, _, qualname = hop.partition(":")
    obj: object = importlib.import_module(module)
    for attr in qualname.split("."):
        assert hasattr(obj, attr), f"{hop}: {attr!r} not found"
        obj = getattr(obj, attr)


@pytest.mark.parametrize("name", DOTTED)
def test_every_module_path_exists(name: str) -> None:
    resolve(name)


@pytest.mark.parametrize("path", PATHS)
def test_every_file_path_exists(path: str) -> None:
    assert (ROOT / path).exists(), path


def test_every_room_of_the_import_table_is_on_the_page() -> None:
    text = DOC.read_text()
    prefixes = {p for p, room in ROOM_OF_PREFIX.items() if room in ALLOWED and room != "telemetry"}
    missing = sorted(p for p in prefixes if f"`{p}`" not in text and f"`{p}` " not in text)
    assert missing == []
