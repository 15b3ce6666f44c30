"""No ground module reads a downlink payload by string key (docs/architecture.md, rule 16).

The ground gets typed payloads from ``telemetry.contract`` (``RigState``, ``RigInfo``,
the event details, ``ReceivedRecord`` for ledger fields). This scan parses every
module of ``telemetry/ground`` with ``ast`` and fails on ``X.get("key")`` or
``X["key"]`` where ``X`` is a payload: an attribute of a decoded message
(``.state``, ``.info``, ``.fields``, ``.record``, ``.extra``, ``.mission``) or a
name the ground binds payloads to (``msg``, ``state``, ``info``, ``fields``,
``record``, ``rec``). A browser's request body or a config table is not a payload
and is not flagged.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUND = ROOT / "telemetry" / "ground"
PAYLOAD_ATTRS = frozenset({"state", "info", "fields", "record", "extra", "mission"})
PAYLOAD_NAMES = frozenset({"msg", "state", "info", "fields", "record", "rec"})


def _is_payload(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in PAYLOAD_ATTRS
    return isinstance(node, ast.Name) and node.id in PAYLOAD_NAMES


def _str_key(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def keyed_reads(path: Path) -> list[str]:
    """``file:line: expression`` of every read of a payload by string key in *path*."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        target: ast.expr | None = None
        key: str | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and node.args:
            target, key = node.func.value, _str_key(node.args[0])
        elif isinstance(node, ast.Subscript):
            target, key = node.value, _str_key(node.slice)
        if target is not None and key is not None and _is_payload(target):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def scan(root: Path) -> list[str]:
    return [hit for path in sorted(root.rglob("*.py")) for hit in keyed_reads(path)]


def test_no_ground_module_reads_a_payload_by_string_key() -> None:
    assert scan(GROUND) == []


def test_the_scan_finds_keyed_reads(tmp_path: Path) -> None:
    probe = GROUND / "_probe_for_the_scan.py"  # inside ROOT, so the report is relative
    probe.write_text('def f(msg, view, body):\n'
                     '    a = msg.state.get("x_m")\n'
                     '    b = view.info["software"]\n'
                     '    c = msg.fields.get("name")\n'
                     '    d = body.get("command")  # a request body: not a payload\n'
                     '    return view.ledger[3], a, b, c, d\n')
    try:
        hits = keyed_reads(probe)
    finally:
        probe.unlink()
    assert [h.split(": ", 1)[1] for h in hits] == [
        "msg.state.get('x_m')", "view.info['software']", "msg.fields.get('name')"]
