"""Overlapping the dig cycle's arm travel with its drives (power_limited's sequencing).

Theory of operation
-------------------
Done one after the other, a dig cycle spends about as long moving the arm in
the air as cutting: ~6 s lowering the drum from its stow height to the
surface at the firmware's 0.05 m/s before every dig, ~7 s raising it back
before every drive to the dump. Both can happen while the rig drives, if the
firmware lets the arm move during a DRIVE_TO: with arg3 = 1 it follows the
set-points' cut depth, but never lower than its drive clearance (0.03 m above
the ground), it does not move the rig until the drum is that high, and it
drives at most 0.1 m/s while the drum is below 0.1 m (docs/protocol.md
section 4.8). The rule we adopt, enforced by the firmware and never asked
against by this module: **while the rig drives, the drum stays clear of the
ground, and it is low only near the dig site, at crawling speed.**

A ``Leg`` is one such drive. ``leg_setpoint`` says what to send while it runs:

* towards a dig site: the arm at the stow height (``stow_depth_m``) until the
  rig is ``lower_within_m`` from the site, then down to ``drive_clearance_m``
  above the ground (the descent at 0.05 m/s ends about when the rig arrives);
  the drum spins up at ``dig_speed_rad_s`` within ``spin_up_within_m``, so it
  enters the soil at speed a fraction of a second after the arrival;
* towards the dump: the arm up to the stow height at once (the lift that
  ``ControlCore`` starts in FULL goes on while driving), the drum still, so
  the lift work is measured as in a stow (``control.core.mass_estimator``).

Pure: measurements in, set-points out; no clock, no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import StrategyConfig
from .measurements import Measurements
from .step_messages import SetpointCommand

__all__ = ["Leg", "leg_setpoint"]


@dataclass(frozen=True, slots=True)
class Leg:
    """A drive with the arm following the set-points: where to, and what for."""

    x: float
    y: float
    to_dig: bool  # True: a dig starts on arrival; False: carrying a load to the dump


def leg_setpoint(c: StrategyConfig, leg: Leg, m: Measurements) -> SetpointCommand:
    """The set-points while *leg* runs (see the module docstring)."""
    stow = SetpointCommand(0.0, c.stow_depth_m)
    if not leg.to_dig:
        return stow
    dist = math.hypot(m.x - leg.x, m.y - leg.y)
    if math.isnan(dist) or dist > c.lower_within_m:
        return stow
    low = -max(c.drive_clearance_m, 0.0)  # never into the ground, whatever the config
    speed = c.dig_speed_rad_s if dist <= c.spin_up_within_m else 0.0
    return SetpointCommand(speed, max(low, c.stow_depth_m))
