"""Small modules, short functions: no product module over 600 lines, no function over 75.

A module that grows past the limit is doing two jobs (STYLE.md: "If you cannot say
what a module is for in one line, split it"); a long function hides its steps.
Product code only: tests and benchmarks may be longer.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("rig_common", "firmware_bridge", "telemetry", "control", "sim_hw", "rig_bench")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 75


def product_files() -> list[Path]:
    return sorted(p for top in PRODUCT for p in (ROOT / top).rglob("*.py")
                  if "__pycache__" not in p.parts)


def test_no_module_is_over_the_limit() -> None:
    long = {str(p.relative_to(ROOT)): n for p in product_files()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_is_over_the_limit() -> None:
    long = {}
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = n
    assert long == {}


def test_the_check_sees_the_code() -> None:
    assert len(product_files()) > 100
