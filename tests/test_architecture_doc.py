"""docs/architecture.md names only things that exist, and every room of the import table.

Every backticked ``module:qualified.name`` must import and resolve, every
backticked dotted name under one of our packages must be a module (or a name in
one), and every backticked path must exist. A rename that forgets the page fails here.
"""

from __future__ import annotations

import ast
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


# --------------------------------------------------------------------------- the walks
#
# A walk ("## A sample, ..." and "## A ground command, ...") is a numbered list of
# steps naming the hops a value takes. Read with ``ast``, so that a renamed or
# rewired hop fails here:
#
# * the first callable hop of a step is linked to a hop of an earlier step (the step
#   before, or the one a fork in the walk starts from);
# * every further callable hop of a step is linked to a hop before it in its step.
#
# Two hops are linked when one calls (names) the other, or when both are methods of
# one object (one class, or a class and its base) that hand the value over through
# an attribute of their object (``self._events``, ``self.streams``). A line starting
# with "**Across" marks where the value leaves the process (the serial line, the
# broker): no call joins the steps on either side.
# Types (classes) are named for the reader and are not links of the chain.

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
            and n.attr not in ("config", "log")}


def hops_linked(a: str, b: str) -> bool:
    """Does hop ``a`` call ``b``, is it called by ``b``, or do the two methods of one
    class share an attribute of their object?"""
    da, db = _definition(a), _definition(b)
    assert da is not None, f"{a} is not defined where the walk says"
    assert db is not None, f"{b} is not defined where the walk says"
    name_a, name_b = (h.rpartition(":")[2].rpartition(".")[2] for h in (a, b))
    if name_b in _names_used(da) or name_a in _names_used(db):
        return True
    return _one_object(a, b) and bool(_own_attributes(da) & _own_attributes(db))


def _one_object(a: str, b: str) -> bool:
    """Are hops ``a`` and ``b`` methods of one class, or of a class and its base?"""
    class_a, class_b = a.rpartition(".")[0], b.rpartition(".")[0]
    if ":" not in class_a or ":" not in class_b:
        return False  # a module-level function
    if class_a == class_b:
        return True
    na, nb = _definition(class_a), _definition(class_b)

    def bases(node: ast.AST | None) -> set[str]:
        return {ast.unparse(base).rpartition(".")[2] for base in node.bases} \
            if isinstance(node, ast.ClassDef) else set()

    return class_b.rpartition(":")[2].rpartition(".")[2] in bases(na) or \
        class_a.rpartition(":")[2].rpartition(".")[2] in bases(nb)


def _steps(section: str) -> list[list[str] | None]:
    """The callable hops of each numbered step, with None where a "**Across" line is."""
    steps: list[list[str] | None] = []
    for line in section.splitlines():
        if line.startswith("**Across"):
            steps.append(None)
        elif re.match(r"\d+\. ", line):
            steps.append([h for h in re.findall(r"`([a-z_][\w.]*:[\w.]+)`", line)
                          if not isinstance(_definition(h), ast.ClassDef)])
    return steps


def walk_links() -> list[tuple[str, str, tuple[str, ...]]]:
    """(walk, hop, the hops it may be linked to) for every hop that must be linked."""
    sections = _sections(DOC.read_text())
    out = []
    for title in WALK_TITLES:
        assert title in sections, f"docs/architecture.md has no section {title!r}"
        earlier: list[str] = []  # the hops of the segment's earlier steps
        for step in _steps(sections[title]):
            if step is None:
                earlier = []
                continue
            for i, hop in enumerate(step):
                candidates = step[:i] if i else earlier
                if candidates:
                    out.append((title, hop, tuple(candidates)))
            earlier = earlier + step
    return out


def test_the_walks_have_enough_links() -> None:
    assert len(walk_links()) >= 30


@pytest.mark.parametrize(("walk", "hop", "earlier"), walk_links())
def test_each_hop_of_a_walk_is_linked_to_the_hop_before(walk: str, hop: str,
                                                       earlier: tuple[str, ...]) -> None:
    assert any(hops_linked(e, hop) for e in earlier), \
        f"{walk}: {hop} neither calls nor is called by any of {', '.join(earlier)}"


def test_the_link_check_can_fail() -> None:
    assert hops_linked("firmware_bridge.link:Link.send", "firmware_bridge.codec:encode_payload")
    assert not hops_linked("firmware_bridge.codec:encode_payload",
                           "telemetry.ground.report:summarize_sources")
