"""Which room may import which: the table below is the rule, the code must follow it.

Every module of the shipped packages (and the bench and scripts) is parsed with
``ast``: top-level imports, imports inside functions, relative imports, dotted
string constants naming one of our modules (what ``importlib.import_module``
gets, as ``rig-ground`` does for its subcommands), and the Python-level imports
of the Cython kernels. Each import of one of our modules is
mapped to its room and checked against ``ALLOWED``. docs/architecture.md explains
the rooms; change the table and that page together.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rig_common", "firmware_bridge", "telemetry", "control", "sim_hw", "rig_bench")
TOOL_DIRS = ("bench", "scripts")

# Module prefix -> room; the longest matching prefix wins.
ROOM_OF_PREFIX: dict[str, str] = {
    "rig_common": "util",  # bounded numbers, TOML files, reconnect backoff: every room's floor
    "firmware_bridge": "firmware_bridge",
    "telemetry": "telemetry",  # the package faces: docstrings naming the rooms, no imports
    "telemetry.rover": "telemetry",
    "telemetry.contract": "telemetry.contract",
    "telemetry.mqtt": "telemetry.mqtt",
    "telemetry.rover.filters": "telemetry.rover.filters",
    "telemetry.rover.downlink": "telemetry.rover.downlink",
    "telemetry.ground": "telemetry.ground",
    "control": "control",  # the package face, ``rig-control``'s CLI and ``python -m control``
    "control.core": "control.core",
    "control.security": "control.security",
    "control.runtime": "control.runtime",
    "control.demo": "control.demo",
    "sim_hw": "sim_hw",
    "rig_bench": "rig_bench",
    "bench": "tools",
    "scripts": "tools",
}

_TELEMETRY_ROVER = frozenset({"telemetry.contract", "telemetry.mqtt", "telemetry.rover.filters",
                              "telemetry.rover.downlink"})
_CONTROL = frozenset({"control.core", "control.security", "control.runtime"})

# Room -> rooms it may import (its own room is always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    "util": frozenset(),
    "firmware_bridge": frozenset({"util"}),
    "telemetry": frozenset(),
    "telemetry.contract": frozenset({"util"}),
    "telemetry.rover.filters": frozenset(),
    "telemetry.mqtt": frozenset(),
    "telemetry.rover.downlink": frozenset({"telemetry.contract", "telemetry.mqtt", "util"}),
    "telemetry.ground": frozenset({"telemetry.contract", "telemetry.mqtt", "util"}),
    "control.core": frozenset({"firmware_bridge", "telemetry.contract", "util"}),
    "control.security": frozenset({"control.core", "telemetry.contract", "util"}),
    "control.runtime": frozenset({"control.core", "control.security", "firmware_bridge", "util",
                                  *_TELEMETRY_ROVER}),
    # the demo runs the simulator and reads its truth log with the simulator's parser
    "control.demo": frozenset({"control.core", "control.runtime", "sim_hw", "util"}),
    "control": _CONTROL | {"control.demo", "firmware_bridge", "util", *_TELEMETRY_ROVER},
    "sim_hw": frozenset({"firmware_bridge", "util", "telemetry.contract"}),
    # bench and test support: may drive anything, and nothing of the product imports it
    "rig_bench": _CONTROL | {"control", "sim_hw", "firmware_bridge", "util", *_TELEMETRY_ROVER},
    "tools": frozenset({
        "firmware_bridge", "util", "telemetry", "telemetry.contract", "telemetry.mqtt",
        "telemetry.ground", "control", "control.demo", "sim_hw", "rig_bench",
        *_CONTROL, *_TELEMETRY_ROVER,
    }),
}


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str
    from_room: str
    to_room: str

    def __str__(self) -> str:
        return (f"{self.module}:{self.line} imports {self.imported}: "
                f"{self.from_room} -> {self.to_room} is not in ALLOWED")


def room_of(module: str) -> str | None:
    """The room of a dotted module name, or None when it is not ours."""
    best = None
    for prefix in ROOM_OF_PREFIX:
        if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else ROOM_OF_PREFIX[best]


def module_name(path: Path) -> tuple[str, bool]:
    """(dotted name, is a package ``__init__``) of a file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def source_files() -> Iterator[Path]:
    for top in PACKAGES + TOOL_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".py", ".pyx") and "__pycache__" not in path.parts:
                yield path


def known_modules() -> set[str]:
    return {module_name(p)[0] for p in source_files()}


_PYX_IMPORT = re.compile(r"^\s*(from\s+[\w.]+\s+import\s+[^#]+|import\s+[\w., ]+)")


def parse_source(text: str, suffix: str = ".py") -> ast.Module:
    """The module's AST; for a Cython file, only its Python-level import lines."""
    if suffix != ".pyx":
        return ast.parse(text)
    lines = [m.group(1).strip().rstrip("\\") for line in text.splitlines()
             if "cimport" not in line and (m := _PYX_IMPORT.match(line))]
    return ast.parse("\n".join(lines))


def imported_modules(tree: ast.Module, module: str, is_package: bool,
                     known: set[str]) -> Iterator[tuple[int, str]]:
    """(line, dotted module) for every import anywhere in the tree, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if sub in known else base
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "." in node.value and node.value in known:
            yield node.lineno, node.value  # a name for importlib.import_module


def check_source(text: str, module: str, *, is_package: bool = False, suffix: str = ".py",
                 known: set[str] | None = None) -> list[Violation]:
    """Every import of ``text`` (as module ``module``) that breaks the table."""
    known = known_modules() if known is None else known
    here = room_of(module)
    assert here is not None, f"{module} belongs to no room: add it to ROOM_OF_PREFIX"
    out = []
    pairs = sorted(set(imported_modules(parse_source(text, suffix), module, is_package, known)))
    for line, target in pairs:
        there = room_of(target)
        if there is None or there == here or there in ALLOWED[here]:
            continue
        out.append(Violation(module, line, target, here, there))
    return out


def import_pairs() -> Iterator[tuple[str, str]]:
    """(importing module, imported module) for every import of ours in the tree."""
    known = known_modules()
    for path in source_files():
        module, is_package = module_name(path)
        tree = parse_source(path.read_text(), path.suffix)
        for _, target in imported_modules(tree, module, is_package, known):
            if room_of(target) is not None:
                yield module, target


def room_edges() -> set[tuple[str, str]]:
    """(from room, to room) for every import between two different rooms."""
    edges = {(room_of(a), room_of(b)) for a, b in import_pairs()}
    return {(a, b) for a, b in edges if a != b}


def find_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    """One cycle of the directed graph as a list of nodes, or None."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt, stack)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return None


# --------------------------------------------------------------------------- the rules


def test_every_module_belongs_to_a_room() -> None:
    homeless = [module_name(p)[0] for p in source_files() if room_of(module_name(p)[0]) is None]
    assert homeless == []


def test_every_import_follows_the_room_table() -> None:
    known = known_modules()
    violations = []
    for path in source_files():
        module, is_package = module_name(path)
        violations += check_source(path.read_text(), module, is_package=is_package,
                                   suffix=path.suffix, known=known)
    assert violations == [], "\n".join(map(str, violations))


def test_the_table_itself_has_no_cycle() -> None:
    edges = {(a, b) for a, targets in ALLOWED.items() for b in targets}
    assert find_cycle(edges) is None


def test_no_cycle_between_rooms_in_the_tree() -> None:
    edges = room_edges()
    assert ("control.core", "telemetry.contract") in edges  # the scan sees real imports
    assert find_cycle(edges) is None


def test_no_cycle_between_top_level_packages() -> None:
    edges = {(a.split(".")[0], b.split(".")[0]) for a, b in import_pairs()}
    edges = {(a, b) for a, b in edges if a != b and a not in TOOL_DIRS}
    assert ("control", "telemetry") in edges
    assert find_cycle(edges) is None, sorted(edges)


def test_no_cycle_between_files() -> None:
    """No two modules import each other, not even through ``TYPE_CHECKING`` or a lazy
    import: a cycle means a seam in the wrong place (a type that belongs lower down)."""
    edges = {(a, b) for a, b in import_pairs() if a != b and room_of(a) != "tools"}
    # a package face imports its own modules; those importing the face back is the cycle
    assert ("control.runtime.app", "control.core.step") in edges
    assert find_cycle(edges) is None


def test_product_code_never_imports_bench_support() -> None:
    product = [(a, b) for a, b in import_pairs()
               if room_of(b) == "rig_bench" and room_of(a) not in ("rig_bench", "tools")]
    assert product == []


# --------------------------------------------------------------------------- the checker


@pytest.mark.parametrize("source", [
    "from control.security import Ledger\n",
    "import importlib\nSUBCOMMANDS = ['control.runtime.security_setup']\n",
    "import control.security.command_auth\n",
    "def later():\n    from control import errors\n    return errors\n",
    "from ..rover.downlink import Downlink\n",  # relative, resolved to telemetry.rover.downlink
])
def test_checker_catches_a_ground_tool_importing_the_rover(source: str) -> None:
    (v,) = check_source(source, "telemetry.ground.fake")
    assert v.from_room == "telemetry.ground"
    assert v.to_room in ("control", "control.runtime", "control.security",
                         "telemetry.rover.downlink")
    assert v.line >= 1


def test_checker_allows_what_the_table_allows_and_ignores_third_party() -> None:
    source = ("import json\nimport numpy as np\nfrom telemetry.contract import TopicTree\n"
              "from telemetry.mqtt.adapter import connect\nfrom . import store\n"
              "from rig_common.backoff import Backoff\n")
    assert check_source(source, "telemetry.ground.fake") == []


def test_checker_reads_cython_imports_and_catches_a_cycle() -> None:
    pyx = "cimport numpy as cnp\nfrom control import step  # bad\nimport numpy as np\n"
    (v,) = check_source(pyx, "telemetry.rover.filters._fake", suffix=".pyx")
    assert (v.from_room, v.to_room) == ("telemetry.rover.filters", "control")
    assert find_cycle({("a", "b"), ("b", "c"), ("c", "a")}) == ["a", "b", "c", "a"]
    assert find_cycle({("a", "b"), ("a", "c"), ("b", "c")}) is None
