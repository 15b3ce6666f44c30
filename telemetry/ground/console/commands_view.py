"""What the commands page shows besides the buttons (pure functions of the fleet model):
the settable parameters with their unit, range and current value, the rig's key values
now, and the commands sent to the rig in the last minutes (who else is commanding it).

The parameter table and the values come from the rover (``info.params`` in its retained
status, ``state.params`` in each state; ``telemetry.contract.param_table``): the console
knows no parameter of its own. A rover too old to publish them gets an empty list, and
the page says so instead of guessing.
"""

from __future__ import annotations

from telemetry.contract.json_fields import JsonObject
from telemetry.ground.fleet import FleetModel, RigView

__all__ = ["KEY_CHANNELS", "KEY_VALUES", "RECENT_S", "commands_json", "params_json"]

#: How far back the "who else is commanding this rig" list reaches (ground clock, s).
RECENT_S = 600.0

#: The state fields the commands page shows live, in this order (the state panel's keys:
#: ``views.STATE_FIELDS``); interlocks come with them.
KEY_VALUES = ("mode", "phase", "mission_running", "motors_enabled", "cut_depth_m",
              "drum_current_a", "bucket_kg", "battery_v", "energy_j", "x_m", "y_m")
#: ...and the fast channels it shows with them (the latest filtered value of each batch
#: stream: the state carries no arm position)
KEY_CHANNELS = ("arm_position", "battery_soc")


def params_json(view: RigView) -> list[JsonObject]:
    """Each parameter the rover lets the ground set: name, unit, lo, hi, doc, integer, used
    (the active strategy reads it) and value (``None`` until a state carried it)."""
    values = view.state.params if view.state is not None else None
    return [{**spec.to_json(), "value": None if values is None else values.get(spec.name)}
            for spec in view.info.params]


def commands_json(model: FleetModel, view: RigView, now: float) -> JsonObject:
    """The commands page's extra fields of a rig snapshot."""
    since = now - RECENT_S
    recent = []
    for c in model.commands.for_rig(view.rig):
        seen = c.sent_at if c.sent_at is not None else c.acked_at  # the ack may come first
        if seen is not None and seen >= since:
            recent.append(c.as_dict())
    return {"params": params_json(view), "strategy": view.info.strategy,
            "recent_commands": recent, "recent_window_s": RECENT_S,
            "key_values": list(KEY_VALUES), "key_channels": list(KEY_CHANNELS)}
