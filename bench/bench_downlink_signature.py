"""Cost of the rover's downlink signatures (issue 24): per message, signing and verifying.

The rover signs each state, event, ack, status and ledger payload once when it is
encoded (``telemetry.contract.downlink_signature``); the ground verifies each
one it receives. This times both on CPU (``time.process_time``, so other load on
the machine does not count) for a typical state (the controller's ~20 fields),
an event and an ack, next to what encoding the same message costs; and for a
``stream0`` batch (12 channels x 10 rows, sent 10 times a second), the cost
a signature would add in CPU and link bytes, which is why batches and
statistics stay unsigned (the bytes matter more than the microseconds on the
rover's radio link).

    .venv/bin/python bench/bench_downlink_signature.py [--n 5000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from telemetry.contract.downlink_signature import sign_payload, verify_payload
from telemetry.contract.keys import generate
from telemetry.contract.payloads import (
    AckMessage,
    BatchBlock,
    BatchMessage,
    Envelope,
    EventMessage,
    StateMessage,
    encode,
)
from telemetry.contract.rig_state import RigState
from telemetry.contract.topics import Severity

STATE = {"mode": "digging", "phase": "cut", "mission_running": True, "motors_enabled": True,
         "drum_current_a": 12.25, "drum_speed_rad_s": 3.1, "cut_depth_m": 0.041,
         "tilt_deg": 2.5, "motor_temp_c": 41.2, "battery_v": 49.6, "bucket_kg": 3.2,
         "load_cell_kg": 3.18, "model_kg": 3.25, "load_cell_ok": True, "energy_j": 41230.5,
         "x_m": 1.52, "y_m": 0.03, "interlocks": []}


def per_call_us(fn: Callable[[], object], n: int) -> float:
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return 1e6 * (time.process_time() - t0) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000)
    args = p.parse_args()
    key = generate("rover").signing_key
    verify = key.verify_key
    env = Envelope("rig-1", 1, 7, 1.8e9, 120.5)
    messages = {
        "state": ("regolith/rig-1/state", StateMessage(env, RigState.from_json(STATE))),
        "event": ("regolith/rig-1/event/alarm", EventMessage(
            env, "interlock_tripped", Severity.ALARM, "tilt beyond 15 deg", {"name": "tilt"})),
        "ack": ("regolith/rig-1/ack", AckMessage(env, "ops-1-0a1b2c3d", True, "")),
    }
    print(f"{args.n} messages each, CPU time per message on one core:")
    for name, (topic, message) in messages.items():
        payload = encode(message)
        signed = sign_payload(key, topic, payload)
        enc = per_call_us(lambda m=message: encode(m), args.n)
        sig = per_call_us(lambda t=topic, b=payload: sign_payload(key, t, b), args.n)
        ver = per_call_us(lambda t=topic, s=signed: verify_payload(verify, t, s), args.n)
        print(f"  {name:5s} {len(payload):4d} B (+{len(signed) - len(payload)} B): encode "
              f"{enc:6.1f} us, sign {sig:6.1f} us (rover), verify {ver:6.1f} us (ground)")
    rows = np.random.default_rng(1).normal(size=(10, 12)).astype(np.float32)
    batch = BatchMessage(env, BatchBlock("stream0", tuple(f"c{i}" for i in range(12)),
                                         ("u",) * 12, 1.8e9, 0.01, rows))
    enc = per_call_us(lambda: encode(batch), args.n)
    payload = encode(batch)
    sig = per_call_us(lambda: key.sign(payload), args.n)
    print(f"  batch {len(payload):4d} B: encode {enc:6.1f} us; a signature would add {sig:.1f} us "
          f"({100 * sig / enc:.0f} % of its encoding) and 97 B ({100 * 97 / len(payload):.0f} % "
          f"of the link bytes) to every batch, 10+ a second per stream, for samples nobody acts "
          f"on one by one (the values acted on travel in the signed state): batches stay "
          f"unsigned")
    state_rate = 10.0  # state, 10 Hz; events and acks are rare next to it
    _, state_msg = messages["state"]
    cost = per_call_us(lambda: sign_payload(key, "regolith/rig-1/state", encode(state_msg)),
                       args.n)
    print(f"rover: signing the 10 Hz state costs {cost * state_rate / 1e4:.3f} % of one core")


if __name__ == "__main__":
    main()
