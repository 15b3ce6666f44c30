"""The console's WebSocket fan-out (pure: no server, pages are queues)."""

from __future__ import annotations

import json

import numpy as np

from telemetry.contract.payloads import BatchBlock, BatchMessage, Envelope, encode
from telemetry.ground.client import GroundClient
from telemetry.ground.console.hub import Hub
from telemetry.ground.console.views import LedgerVerifier
from telemetry.mqtt.adapter import InboundMessage


def batch(stream: str, seq: int, t: float) -> InboundMessage:
    rows = np.full((10, 2), float(seq), dtype=np.float32)
    payload = encode(BatchMessage(Envelope("rig-1", 1, seq, t, t),
                                  BatchBlock(stream, ("a", "b"), ("u", "u"), t, 0.01, rows)))
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


def test_a_rig_whose_states_stop_is_stale_within_a_second_or_three_periods() -> None:
    from telemetry.contract.payloads import StateMessage
    from telemetry.contract.rig_state import RigState
    from telemetry.ground.console.views import rig_json
    from telemetry.ground.fleet import FleetModel

    m = FleetModel("regolith")
    for i in range(20):  # 10 Hz states
        payload = encode(StateMessage(Envelope("rig-1", 1, i, 1e9 + i / 10, i / 10),
                                      RigState(mode="idle")))
        m.handle(InboundMessage("regolith/rig-1/state", payload, 1, False), 100.0 + i / 10)
    last = 100.0 + 1.9
    assert rig_json(m, "rig-1", last + 0.5)["stale"] is False
    snap = rig_json(m, "rig-1", last + 1.2)
    assert snap["stale"] is True and snap["state_age_s"] == 1.2
    slow = FleetModel("regolith")
    for i in range(5):  # a 1 Hz rig is stale after three of its periods, not after 1 s
        payload = encode(StateMessage(Envelope("rig-1", 1, i, 1e9 + i, float(i)), RigState()))
        slow.handle(InboundMessage("regolith/rig-1/state", payload, 1, False), 100.0 + i)
    assert rig_json(slow, "rig-1", 104.0 + 2.0)["stale"] is False
    assert rig_json(slow, "rig-1", 104.0 + 3.5)["stale"] is True


def test_rows_reach_the_page_in_ground_utc_not_firmware_seconds() -> None:
    """Issue 24: plots were labelled in firmware seconds that restart at every reset."""
    from telemetry.contract.payloads import StateMessage
    from telemetry.contract.rig_state import RigState

    wall = 1_796_000_000.0  # the rover's wall clock; the ground's is 30 s ahead of it
    client = GroundClient("mqtt://127.0.0.1:1", "rig-1")
    hub = Hub(client.model, LedgerVerifier(None, None, {}), clock=lambda: wall + 60.0)
    client.add_listener(hub.on_live)
    page = hub.open("alice", "operator")
    hub.subscribe(page, {"source": "live", "rig": "rig-1"})
    state = StateMessage(Envelope("rig-1", 1, 0, wall, 50.0), RigState(clock_offset_s=30.0))
    client.handle(InboundMessage("regolith/rig-1/state", encode(state), 1, False), wall)
    for seq in range(5):  # firmware seconds 3.0.. (the firmware started 3 s before)
        rows = np.zeros((10, 2), dtype=np.float32)
        t_rig = wall + 0.1 * (seq + 1)  # queued as its last row was sampled
        msg = BatchMessage(Envelope("rig-1", 1, seq, t_rig, 50.0 + 0.1 * (seq + 1)),
                           BatchBlock("stream0", ("a", "b"), ("u", "u"), 3.0 + 0.1 * seq,
                                      0.01, rows))
        client.handle(InboundMessage("regolith/rig-1/batch/stream0", encode(msg), 1, False),
                      t_rig)
    sent = [json.loads(page.queue.get_nowait()) for _ in range(page.queue.qsize())]
    rows_t = [t for m in sent if m["type"] == "rows" for t in m["t"]]
    assert len(rows_t) == 50
    assert rows_t[0] == wall + 30.0  # the first row: ground time, with the rover's offset
    assert rows_t[-1] == round(wall + 30.49, 4) and rows_t == sorted(rows_t)


def test_invented_stream_names_do_not_grow_the_hub_without_bound() -> None:
    from telemetry.ground.console import hub as hub_module

    client = GroundClient("mqtt://127.0.0.1:1", "rig-1")
    hub = Hub(client.model, LedgerVerifier(None, None, {}), clock=lambda: 1e9)
    client.add_listener(hub.on_live)
    for i in range(hub_module._STREAMS_MAX + 300):  # batches are unsigned: anyone's
        client.handle(batch(f"s{i}", 0, 1e9 + i), 1e9 + i)
    assert len(hub._times) == hub_module._STREAMS_MAX


def test_the_rows_kept_for_pages_that_open_are_bounded() -> None:
    """Batches are unsigned: any broker client picks their size, rig and time stamps."""
    from telemetry.ground.console.row_history import RowHistory

    h = RowHistory(span_s=30.0, per_rig_max=100, per_rig_bytes=10_000, total_bytes=25_000)
    for i in range(50):  # 1 s apart, in ground UTC: the last 30 s stay
        h.add(("live", "rig-1"), 1e9 + i, f"r{i:03d}")
    assert h.rows(("live", "rig-1"))[0] == "r019" and len(h.rows(("live", "rig-1"))) == 31
    # a batch claiming a far-future time ages the others out; later ones (its past)
    # pile up behind it only to the count bound
    h.add(("live", "rig-1"), 1e12, "future")
    assert h.rows(("live", "rig-1")) == ["future"]
    for i in range(200):
        h.add(("live", "rig-1"), 1e9 + 60 + i, "x")
    assert len(h.rows(("live", "rig-1"))) <= 100
    # big batches: each rig within its bytes, all rigs within the total, the real rig kept
    h.add(("live", "rig-real"), 1e9, "r" * 2_000)
    for n in range(40):
        h.add(("live", f"fake-{n % 4}"), 1e9 + n, "f" * 3_000)
    assert h.held_bytes <= 25_000 and h.trimmed_for_room > 0
    assert h.rows(("live", "rig-real")) == ["r" * 2_000], "the largest holders paid, not it"
    assert all(len("".join(h.rows(("live", f"fake-{n}")))) <= 10_000 for n in range(4))
    h.forget("live")
    assert h.held_bytes == 0 and h.rows(("live", "rig-1")) == []
