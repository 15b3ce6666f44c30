"""Synthetic recordings for the store tests: seeded message streams with every kind of
irregularity the accounting must handle (gaps, duplicates, resends, late numbers,
historical messages, evictions, malformed payloads, status messages)."""

from __future__ import annotations

import random

from telemetry.contract.payloads import Envelope, StateMessage, encode
from telemetry.contract.rig_state import RigState
from telemetry.ground.stores import EvictedRange, MalformedRow, MessageRow, WriteItem


def message(rig: str, stream: str, seq: int, *, boot: int = 1, received_at: float = 1000.0,
            latency: float = 0.05, historical: bool = False, resend: bool = False,
            type_: str = "state") -> MessageRow:
    t_rig = received_at - latency
    payload = encode(StateMessage(Envelope(rig, boot, seq, t_rig, 1.0, historical, resend),
                                  RigState.from_json({"seq": seq})))
    return MessageRow(rig, stream, type_, boot, seq, f"regolith/{rig}/{stream}", received_at,
                      t_rig, 1.0, historical, resend, payload)


def scenario(seed: int, n: int = 120) -> list[WriteItem]:
    """A reproducible mix over 2 rigs x 2 streams, in arrival order."""
    rng = random.Random(seed)
    items: list[WriteItem] = []
    now = 1_700_000_000.0
    for rig in ("rig-a", "rig-b"):
        for stream in ("state", "batch/load"):
            seqs = [s for s in range(n) if rng.random() > 0.08]  # ~8 % never arrive
            head = seqs[: n // 3]
            rng.shuffle(head)  # the first third arrives out of order
            seqs[: n // 3] = head
            for s in seqs:
                now += rng.uniform(0.001, 0.02)
                hist = rng.random() < 0.1
                items.append(message(rig, stream, s, received_at=now, historical=hist,
                                     latency=rng.uniform(0.01, 0.5)))
                if rng.random() < 0.07:  # a copy: flagged resend or not
                    items.append(message(rig, stream, s, received_at=now + 0.5,
                                         historical=hist, resend=rng.random() < 0.7,
                                         latency=rng.uniform(0.01, 0.5)))
            if rng.random() < 0.8:
                first = rng.randrange(n // 2, n - 10)
                items.append(EvictedRange(rig, stream, first, first + rng.randrange(1, 8), 3,
                                          now))
        items.append(message(rig, "status", 0, type_="status", received_at=now))
    for i in range(rng.randrange(0, 4)):
        items.append(MalformedRow(f"regolith/x/{i}", now, "not CBOR", b"\xff" * i))
    return items
