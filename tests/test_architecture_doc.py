"""docs/architecture.md names only things that exist, and every room of the import table.

Every backticked ``module:qualified.name`` must import and resolve, every
backticked dotted name under one of our packages must be a module (or a name in
one), and every backticked path must exist. A rename that forgets the page fails here.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import itertools
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


# --------------------------------------------------------------------------- the walks
#
# A walk ("## A sample, ..." and "## A ground command, ...") names the hops a value
# takes, in order. Each callable hop must call the next one, or be called by it, or
# (two methods of one class) hand the value over through an attribute of their own
# object (``self._queue``): read with ``ast``, so a renamed or rewired hop fails here.
# A line starting with "**Across" marks where the value leaves the process (the
# serial line, the broker): no call joins the hops on either side of it. Types
# (classes) are named for the reader and are not links of the chain.

WALK_TITLES = ("A sample, from the serial line to the ground",
               "A ground command, from the ground to the firmware")


def _sections(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(
        r"^## (.+?)\n(.*?)(?=^## |\Z)", text, re.S | re.M)}


def _definition(hop: str) -> ast.AST | None:
    """The hop's ``def`` or ``class`` in its module's source (a walk names where a thing
    is defined, not a module that re-exports it), or None."""
    module, _, qualname = hop.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    node: ast.AST = ast.parse(Path(spec.origin).read_text())
    for part in qualname.split("."):
        found = [c for c in ast.iter_child_nodes(node)
                 if isinstance(c, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                 and c.name == part]
        if not found:
            return None
        node = found[0]
    return node


def _names_used(node: ast.AST) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
    return out


def _own_attributes(node: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "self"
            and n.attr.startswith("_")}


def hops_linked(a: str, b: str) -> bool:
    """Does hop ``a`` call ``b``, is it called by ``b``, or do the two methods of one
    class share a private attribute of their object?"""
    da, db = _definition(a), _definition(b)
    assert da is not None, f"{a} is not defined where the walk says"
    assert db is not None, f"{b} is not defined where the walk says"
    name_a, name_b = (h.rpartition(":")[2].rpartition(".")[2] for h in (a, b))
    if name_b in _names_used(da) or name_a in _names_used(db):
        return True
    same_class = a.rpartition(".")[0] == b.rpartition(".")[0] and "." in a.partition(":")[2]
    return same_class and bool(_own_attributes(da) & _own_attributes(db))


def walk_links() -> list[tuple[str, str, str]]:
    """(walk, hop, next hop) for every pair of consecutive callable hops of the walks."""
    sections = _sections(DOC.read_text())
    pairs = []
    for title in WALK_TITLES:
        assert title in sections, f"docs/architecture.md has no section {title!r}"
        for segment in re.split(r"^\*\*Across.*$", sections[title], flags=re.M):
            hops = [h for h in re.findall(r"`([a-z_][\w.]*:[\w.]+)`", segment)
                    if not isinstance(_definition(h), ast.ClassDef)]
            pairs += [(title, a, b) for a, b in itertools.pairwise(hops)]
    return pairs


def test_the_walks_have_enough_links() -> None:
    assert len(walk_links()) >= 30


@pytest.mark.parametrize(("walk", "hop", "following"), walk_links())
def test_each_hop_of_a_walk_calls_or_is_called_by_the_next(walk: str, hop: str,
                                                          following: str) -> None:
    assert hops_linked(hop, following), f"{walk}: {hop} neither calls nor is called by {following}"


def test_the_link_check_can_fail() -> None:
    assert hops_linked("firmware_bridge.link:Link.send", "firmware_bridge.codec:encode_payload")
    assert not hops_linked("firmware_bridge.codec:encode_payload",
                           "telemetry.ground.report:summarize_sources")
