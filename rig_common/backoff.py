"""Capped, jittered exponential backoff for reconnect loops (sans-I/O).

Delay n (0-based) is drawn uniformly from [d/2, d] with d = min(cap, initial * 2**n)
("equal jitter": never zero, so a fleet does not reconnect in lock-step, and never
above the cap). ``reset()`` after a successful connection.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    def __init__(self, initial: float = 0.2, cap: float = 30.0, *,
                 rng: random.Random | None = None) -> None:
        if not 0 < initial <= cap:
            raise ValueError(f"expected 0 < initial <= cap, got initial={initial}, cap={cap}")
        self.initial = initial
        self.cap = cap
        self._rng = rng or random.Random()
        self.attempts = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.initial * 2.0 ** min(self.attempts, 60))
        self.attempts += 1
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)

    def reset(self) -> None:
        self.attempts = 0
