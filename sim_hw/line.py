"""Serial line faults: byte corruption and byte loss, per direction.

``LineFaults.mangle(data, direction)`` returns the bytes as the other end
would receive them. Corruption XORs each byte with a non-zero random value
with probability ``corrupt[direction]``; loss drops each byte with
probability ``drop[direction]``. Vectorised with NumPy; seeded.
"""

from __future__ import annotations

import numpy as np

DIRECTIONS = ("tx", "rx")


class LineFaults:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.corrupt = {"tx": 0.0, "rx": 0.0}
        self.drop = {"tx": 0.0, "rx": 0.0}
        self.bytes_corrupted = {"tx": 0, "rx": 0}
        self.bytes_dropped = {"tx": 0, "rx": 0}

    @property
    def active(self) -> bool:
        return any(self.corrupt.values()) or any(self.drop.values())

    def set(self, kind: str, direction: str, rate: float) -> None:
        """*kind* "corrupt" or "drop", *direction* "tx", "rx" or "both"."""
        table = self.corrupt if kind == "corrupt" else self.drop
        for d in DIRECTIONS if direction == "both" else (direction,):
            table[d] = rate

    def mangle(self, data: bytes, direction: str) -> bytes:
        pc, pd = self.corrupt[direction], self.drop[direction]
        if not data or (pc == 0.0 and pd == 0.0):
            return data
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        if pc:
            hit = self.rng.random(arr.size) < pc
            k = int(hit.sum())
            if k:
                arr[hit] ^= self.rng.integers(1, 256, k, dtype=np.uint8)
                self.bytes_corrupted[direction] += k
        if pd:
            keep = self.rng.random(arr.size) >= pd
            self.bytes_dropped[direction] += int(arr.size - keep.sum())
            arr = arr[keep]
        return arr.tobytes()
