"""The settable parameters as the rover tells the ground: the table (units, bounds, whether
the active strategy reads each one) for the status's birth info, and the current values
for every state message (``telemetry.contract.param_table``; docs/telemetry.md).

Both are read from ``control.core.commands.PARAMS`` and the controller's configuration;
nothing here changes either.
"""

from __future__ import annotations

from telemetry.contract.param_table import ParamSpec

from .commands import PARAMS
from .config import ControllerConfig

__all__ = ["param_table", "param_values"]


def param_table(config: ControllerConfig) -> tuple[ParamSpec, ...]:
    """Every settable parameter, in ``PARAMS`` order, for the strategy *config* runs."""
    kind = config.strategy.kind.value
    out = []
    for name, p in PARAMS.items():
        current = getattr(getattr(config, p.section), p.key)
        out.append(ParamSpec(name, p.unit, float(p.lo), float(p.hi), p.doc,
                             integer=isinstance(current, int),
                             used=p.only in ("", kind)))
    return tuple(out)


def param_values(config: ControllerConfig) -> dict[str, float]:
    """The current value of every settable parameter (``state.params``)."""
    return {name: float(getattr(getattr(config, p.section), p.key))
            for name, p in PARAMS.items()}
