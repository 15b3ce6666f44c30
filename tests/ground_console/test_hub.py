"""The console's WebSocket fan-out (pure: no server, pages are queues)."""

from __future__ import annotations

import json

import numpy as np

from telemetry.contract.payloads import BatchMessage, Envelope, encode
from telemetry.ground.client import GroundClient
from telemetry.ground.console.hub import Hub
from telemetry.ground.console.views import LedgerVerifier
from telemetry.mqtt.adapter import InboundMessage


def batch(stream: str, seq: int, t: float) -> InboundMessage:
    rows = np.full((10, 2), float(seq), dtype=np.float32)
    payload = encode(BatchMessage(Envelope("rig-1", 1, seq, t, t), stream, ("a", "b"),
                                  ("u", "u"), t, 0.01, rows))
    return InboundMessage(f"regolith/rig-1/batch/{stream}", payload, 1, False)


def test_a_page_that_opens_gets_its_history_without_dropping_anything() -> None:
    """Issue 24, defect 8: every freshly opened live page reported ~190 messages dropped."""
    client = GroundClient("mqtt://127.0.0.1:1", "rig-1")  # never started: fed by hand
    hub = Hub(client.model, LedgerVerifier(None, None, {}), clock=lambda: 1e9 + 30.0)
    client.add_listener(hub.on_live)
    for seq in range(300):  # 30 s of two streams at 10 batches a second
        for stream in ("stream0", "stream1"):
            client.handle(batch(stream, seq, 1e9 + seq / 10), 1e9 + seq / 10)
    page = hub.open("alice", "operator")
    hub.subscribe(page, {"source": "live", "rig": "rig-1"})
    hub.push(fleet=True)
    sent = [json.loads(page.queue.get_nowait()) for _ in range(page.queue.qsize())]
    assert page.dropped == 0 and not any(m["type"] == "dropped" for m in sent)
    history = [m for m in sent if m["type"] == "history"]
    assert len(history) == 1 and history[0]["rig"] == "rig-1"
    items = history[0]["items"]
    assert len(items) == 600 and {m["type"] for m in items} == {"rows"}
    assert items[-1]["cols"][0][0] == 299.0  # the newest batch is there
