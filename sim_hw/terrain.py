"""The site map: ground height h(x, y) as a plane plus a few seeded undulations.

Only its gradient matters to the rig: the slope under the chassis, projected
on the heading, gives the terrain part of pitch and roll.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SiteMap:
    slope_x: float = 0.03  # dh/dx of the base plane
    slope_y: float = 0.01
    half_size: float = 50.0  # the site is [-half_size, half_size]^2 m
    waves: tuple[tuple[float, float, float, float], ...] = ()  # (amp m, kx, ky, phase)

    @classmethod
    def generate(cls, seed: int, n_waves: int = 4) -> SiteMap:
        rng = random.Random(seed)
        waves = []
        for _ in range(n_waves):
            wavelength = rng.uniform(5.0, 20.0)
            direction = rng.uniform(0, 2 * math.pi)
            k = 2 * math.pi / wavelength
            waves.append((rng.uniform(0.005, 0.03), k * math.cos(direction),
                          k * math.sin(direction), rng.uniform(0, 2 * math.pi)))
        return cls(waves=tuple(waves))

    def contains(self, x: float, y: float) -> bool:
        return abs(x) <= self.half_size and abs(y) <= self.half_size

    def gradient(self, x: float, y: float) -> tuple[float, float]:
        gx, gy = self.slope_x, self.slope_y
        for amp, kx, ky, ph in self.waves:
            c = amp * math.cos(kx * x + ky * y + ph)
            gx += c * kx
            gy += c * ky
        return gx, gy

    def tilt_deg(self, x: float, y: float, heading: float) -> tuple[float, float]:
        """(pitch, roll) in degrees of a chassis at (x, y) facing *heading*; nose-up positive."""
        gx, gy = self.gradient(x, y)
        ch, sh = math.cos(heading), math.sin(heading)
        along = gx * ch + gy * sh
        across = -gx * sh + gy * ch
        return math.degrees(math.atan(along)), math.degrees(math.atan(across))
