"""Faults as data: the ``--fault`` grammar and TOML scenario files.

A fault is ``KIND[@TIME][:KEY=VALUE[,KEY=VALUE...]]``, e.g.
``rock@12.5:torque=300``, ``stuck@3:channel=drum_speed,duration=5``,
``corrupt@2:rate=0.001,duration=3,direction=both``. TIME is SIMULATED
seconds since the rig started (omitted: at start, or "now" for
``Rig.inject``); durations are simulated seconds too. A scenario file holds
the same entries as TOML tables::

    [[fault]]
    kind = "rock"
    at = 12.5
    torque = 300.0

Errors name the spec or the file, the entry index (``fault[2]``), the key and
what was expected; TOML syntax errors keep tomllib's line and column.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rig_common import finite_in

from .channels import CHANNEL_IDS
from .errors import ScenarioError

_INF = math.inf


@dataclass(frozen=True, slots=True)
class ParamSpec:
    kind: str  # "float", "channel" or "choice"
    default: float | str | None = None  # None: required
    lo: float = -_INF
    hi: float = _INF
    choices: tuple[str, ...] = ()
    help: str = ""


_DUR = ParamSpec("float", 1.0, 0.0, _INF, help="simulated seconds")
_CH = ParamSpec("channel", None, help="channel name")
_DIR = ParamSpec("choice", "tx", choices=("tx", "rx", "both"),
                 help="tx: firmware->controller bytes, rx: controller->firmware")

#: kind -> parameters (with defaults) and a one-line description (used by --help)
FAULT_KINDS: dict[str, tuple[str, dict[str, ParamSpec]]] = {
    "rock": ("rock strike: extra drum torque until broken out or timed out", {
        "torque": ParamSpec("float", 150.0, 0.0, 1e5, help="N m"),
        "duration": ParamSpec("float", 2.0, 0.0, _INF, help="s before it gives way"),
        "angle": ParamSpec("float", 1.5, 0.0, _INF, help="rad of drum rotation to break it"),
    }),
    "stall": ("drum jammed (immovable) for a while", {"duration": ParamSpec(
        "float", 2.0, 0.0, _INF, help="simulated seconds")}),
    "stuck": ("sensor stuck at its last (or a given) value", {
        "channel": _CH,
        "duration": ParamSpec("float", _INF, 0.0, _INF, help="s (default: forever)"),
        "value": ParamSpec("float", math.nan, help="physical value (default: last reading)"),
    }),
    "dropout": ("sensor gives no reading (count -32768); the firmware reports SENSOR_FAULT",
                {"channel": _CH, "duration": _DUR}),
    "spikes": ("burst of spikes on a channel", {
        "channel": _CH, "duration": _DUR,
        "rate": ParamSpec("float", 50.0, 0.0, 1e6, help="spikes per simulated second"),
        "amplitude": ParamSpec("float", math.nan, 0.0, _INF,
                               help="physical units (default: 10 % of the channel's range)"),
    }),
    "corrupt": ("serial byte corruption", {
        "rate": ParamSpec("float", 0.001, 0.0, 1.0, help="probability per byte"),
        "duration": _DUR, "direction": _DIR}),
    "drop": ("serial bytes dropped", {
        "rate": ParamSpec("float", 0.001, 0.0, 1.0, help="probability per byte"),
        "duration": _DUR, "direction": _DIR}),
    "disconnect": ("cable pulled (pty: port closed and re-opened behind the same symlink; "
                   "tcp: client dropped and connections refused)", {"duration": _DUR}),
    "reset": ("firmware reset: RESET_NOTICE, new boot id, firmware state lost", {
        "reason": ParamSpec("choice", "fault", choices=(
            "power_on", "watchdog", "brownout", "commanded", "fault"))}),
    "overtemp": ("motor temperature jumps to a value", {
        "temp": ParamSpec("float", 130.0, -100.0, 300.0, help="degC")}),
    "lowbatt": ("battery state of charge drops to a value", {
        "soc": ParamSpec("float", 15.0, 0.0, 100.0, help="%")}),
    "overcurrent": ("drum driver fault: the firmware's current clamp is lifted to `limit` "
                    "while a load of `torque` brakes the drum, so the drum draws more than "
                    "its rated 20 A (exercises the controller's over-current interlocks)", {
        "limit": ParamSpec("float", 40.0, 1.0, 500.0, help="A, the lifted clamp"),
        "torque": ParamSpec("float", 100.0, 0.0, 1e5, help="N m of extra drum load"),
        "duration": ParamSpec("float", 4.0, 0.0, _INF, help="s"),
    }),
    "estop": ("operator panel e-stop pressed (held for duration, then released)", {
        "duration": ParamSpec("float", 0.0, 0.0, _INF, help="s held")}),
}


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    at: float | None  # simulated seconds since start; None: as soon as injected
    params: tuple[tuple[str, float | str], ...]
    source: str = ""  # where it was written (for messages and the fault log)

    def __getitem__(self, key: str) -> float | str:
        for k, v in self.params:
            if k == key:
                return v
        raise KeyError(key)

    def get(self, key: str, default: float | str | None = None) -> float | str | None:
        try:
            return self[key]
        except KeyError:
            return default

    @property
    def duration(self) -> float:
        """How long the fault lasts (0 for instantaneous ones)."""
        if self.kind in ("rock", "overtemp", "lowbatt", "reset"):
            return 0.0  # their effect then evolves in the physics
        d = self.get("duration", 0.0)
        return float(d)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "at": self.at, **{k: v for k, v in self.params}}


def make_fault(kind: str, at: float | None, params: Mapping[str, object], where: str) -> Fault:
    """Validate and complete one fault; ``where`` prefixes every error message."""
    if not isinstance(kind, str) or kind not in FAULT_KINDS:
        raise ScenarioError(
            f"{where}: unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    if at is not None:
        what = f"{where} ({kind}): key 'at'"
        at = finite_in(_number(at, what), what, 0, error=_scenario_error)
    specs = FAULT_KINDS[kind][1]
    out: list[tuple[str, float | str]] = []
    for key in params:
        if key not in specs:
            expected = ", ".join(specs) or "none"
            raise ScenarioError(
                f"{where} ({kind}): unknown key {key!r}; {kind} takes: {expected}")
    for key, spec in specs.items():
        what = f"{where} ({kind}): key {key!r}"
        if key not in params:
            if spec.default is None:
                raise ScenarioError(f"{what} is required ({spec.help})")
            out.append((key, spec.default))
            continue
        raw = params[key]
        if spec.kind == "float":
            v = _number(raw, what)
            if not math.isnan(v) and not spec.lo <= v <= spec.hi:
                raise ScenarioError(f"{what}: expected {spec.lo:g} .. {spec.hi:g}, got {v:g}")
            out.append((key, v))
        elif spec.kind == "channel":
            if raw not in CHANNEL_IDS:
                raise ScenarioError(
                    f"{what}: unknown channel {raw!r}; expected one of {', '.join(CHANNEL_IDS)}")
            out.append((key, str(raw)))
        else:
            if raw not in spec.choices:
                raise ScenarioError(
                    f"{what}: expected one of {', '.join(spec.choices)}, got {raw!r}")
            out.append((key, str(raw)))
    return Fault(kind, at, tuple(out), where)


def _scenario_error(what: str, problem: str) -> ScenarioError:
    return ScenarioError(f"{what}: {problem} (a time in simulated s)")


def _number(raw: object, what: str) -> float:
    if isinstance(raw, bool):
        raise ScenarioError(f"{what}: expected a number, got {raw!r}")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            pass
    raise ScenarioError(f"{what}: expected a number, got {raw!r}")


def parse_fault(spec: str) -> Fault:
    """Parse ``KIND[@TIME][:KEY=VALUE,...]``. Raises ``ScenarioError``."""
    where = f"fault {spec!r}"
    head, _, tail = spec.strip().partition(":")
    kind, at_sep, at_text = head.partition("@")
    kind = kind.strip()
    at: float | None = None
    if at_sep:
        try:
            at = float(at_text)
        except ValueError:
            raise ScenarioError(f"{where}: time {at_text!r} after '@' is not a number") from None
    params: dict[str, object] = {}
    for item in filter(None, (p.strip() for p in tail.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"{where}: expected KEY=VALUE, got {item!r}")
        if key.strip() in params:
            raise ScenarioError(f"{where}: key {key.strip()!r} given twice")
        params[key.strip()] = value.strip()
    return make_fault(kind, at, params, where)


def parse_scenario(text: str, name: str = "<scenario>") -> tuple[Fault, ...]:
    """Faults of a TOML scenario. Raises ``ScenarioError`` naming line, entry or key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{name}: TOML syntax error: {err}") from err
    unknown = set(doc) - {"fault"}
    if unknown:
        raise ScenarioError(
            f"{name}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
            "expected only [[fault]] tables")
    entries = doc.get("fault", [])
    if not isinstance(entries, list):
        raise ScenarioError(f"{name}: 'fault' must be an array of tables ([[fault]])")
    faults = []
    for i, entry in enumerate(entries):
        where = f"{name}: fault[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(f"{where}: expected a table, got {type(entry).__name__}")
        if "kind" not in entry:
            raise ScenarioError(f"{where}: key 'kind' is required")
        params = {k: v for k, v in entry.items() if k not in ("kind", "at")}
        faults.append(make_fault(entry["kind"], entry.get("at"), params, where))
    return tuple(faults)


def load_scenario(path: str | Path) -> tuple[Fault, ...]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"cannot read scenario {str(p)!r}: {err.strerror}") from err
    return parse_scenario(text, str(p))


def describe_kinds() -> str:
    """Human-readable table of fault kinds and keys (for --help)."""
    lines = []
    for kind, (text, specs) in FAULT_KINDS.items():
        keys = ", ".join(
            f"{k}={'<required>' if s.default is None else _fmt(s.default)}"
            for k, s in specs.items())
        lines.append(f"  {kind:<10} {text}" + (f"\n  {'':<10} keys: {keys}" if keys else ""))
    return "\n".join(lines)


def _fmt(v: float | str) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "auto"
    return f"{v:g}" if isinstance(v, float) else str(v)
