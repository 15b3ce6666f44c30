"""The publisher's reaction to broker refusals, and the refusal report (no network).

Mosquitto only ever answers an ACL denial (0x87, permanent), which the broker
tests cover; it cannot be made to answer "quota exceeded" (0x97) on demand. So
the retry rule is exercised here with a session stand-in that refuses a topic
with a retryable code, behind the adapter's real ``PublishRejectedError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rig_common.backoff import Backoff
from telemetry.contract import Priority, TopicTree
from telemetry.contract.payloads import Envelope, StateMessage, encode
from telemetry.contract.rig_state import RigState
from telemetry.mqtt.adapter import RETRYABLE_PUBACK_CODES, MqttSettings
from telemetry.mqtt.errors import PublishRejectedError
from telemetry.rover.downlink import publisher as publisher_module
from telemetry.rover.downlink.outbox import Outbox
from telemetry.rover.downlink.publisher import Publisher, RejectedPublish
from telemetry.rover.downlink.rejections import RejectionLog

TOPICS = TopicTree("regolith", "rig-1")


class RefusingSession:
    """Accepts every publish except ``refuse_topic``, refused ``refusals`` times."""

    def __init__(self, log: list[str], refuse_topic: str, refusals: list[int]) -> None:
        self.log = log
        self.refuse_topic = refuse_topic
        self.refusals = refusals  # shared across connections: [remaining]

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False) -> None:
        await asyncio.sleep(0)
        if topic == self.refuse_topic and self.refusals[0] > 0:
            self.refusals[0] -= 1
            raise PublishRejectedError(topic, 0x97, "Quota exceeded", retryable=True)
        self.log.append(topic)

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        return None

    async def messages(self) -> AsyncIterator[object]:
        await asyncio.Event().wait()
        yield  # pragma: no cover


async def run_publisher(tmp_path: Path, monkeypatch, refusals: int
                        ) -> tuple[Publisher, Outbox, list[str], list[RejectedPublish]]:
    published: list[str] = []
    remaining = [refusals]
    connections = []

    @contextlib.asynccontextmanager
    async def fake_connect(settings, *, will=None):
        connections.append(will)
        yield RefusingSession(published, "t/flaky", remaining)

    monkeypatch.setattr(publisher_module, "connect", fake_connect)
    outbox = Outbox(tmp_path / "o.db")
    for stream in ("before", "flaky", "after"):
        outbox.append(stream=stream, priority=Priority.CRITICAL, topic=f"t/{stream}",
                      t_mono=time.monotonic(), encode=lambda seq, boot: encode(
                          StateMessage(Envelope("rig-1", boot, seq, 0.0, 0.0), RigState())))
    refused: list[RejectedPublish] = []
    pub = Publisher(outbox, MqttSettings("127.0.0.1"), TOPICS,
                    status_payload=lambda online, shutdown: b"{}", on_command=lambda m: None,
                    monotonic=time.monotonic, backoff=Backoff(0.001, 0.01),
                    on_rejected=refused.append)
    task = asyncio.create_task(pub.run())
    deadline = time.monotonic() + 10
    while outbox.depth and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    pub.stop()
    await asyncio.wait_for(task, 10)
    outbox.close()
    return pub, outbox, published, refused


async def test_a_retryable_refusal_keeps_the_row_and_resends_it_after_a_reconnect(
        tmp_path: Path, monkeypatch) -> None:
    pub, outbox, published, refused = await run_publisher(tmp_path, monkeypatch, refusals=2)
    data = [t for t in published if t.startswith("t/")]
    assert data.count("t/flaky") == 1 and refused == []
    assert pub.counters.rejected == 2 and pub.counters.dead_lettered == 0
    assert pub.counters.connects == 3  # each retryable refusal: reconnect, rewind, resend
    assert outbox.counters.dead_lettered == 0


async def test_a_row_refused_again_and_again_is_dead_lettered_not_blocking_the_rest(
        tmp_path: Path, monkeypatch) -> None:
    pub, outbox, published, refused = await run_publisher(tmp_path, monkeypatch,
                                                          refusals=1_000)
    assert "t/flaky" not in published and {"t/before", "t/after"} <= set(published)
    assert [(r.stream, r.reason_code) for r in refused] == [("flaky", 0x97)]
    assert pub.counters.rejected == 3 and pub.counters.dead_lettered == 1
    assert outbox.counters.dead_lettered == 1


def test_retryable_codes_are_the_transient_ones() -> None:
    assert 0x87 not in RETRYABLE_PUBACK_CODES  # not authorized: never retried
    assert {0x80, 0x97} <= RETRYABLE_PUBACK_CODES


refusals = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 1000),
                              st.sampled_from([0x87, 0x90])), min_size=1, max_size=40)


@given(refusals)
def test_rejection_log_merges_a_window_into_exact_ranges(items) -> None:
    log = RejectionLog(window_s=1.0)
    for i, (stream, seq, code) in enumerate(items):
        assert log.add(stream, seq, f"t/{stream}", code, "why", now=i * 0.01) == ()
    assert log.get_timer() == 1.0
    assert log.handle_timer(0.999) == ()
    report = log.handle_timer(1.0)
    assert sum(r.count for r in report) == len(items)
    for r in report:
        seqs = [s for st_, s, c in items if (st_, c) == (r.stream, r.reason_code)]
        assert (r.first_seq, r.last_seq, r.count) == (min(seqs), max(seqs), len(seqs))
    assert log.get_timer() is None and log.flush() == ()


def test_rejection_log_without_a_window_reports_at_once() -> None:
    log = RejectionLog(window_s=0)
    (r,) = log.add("batch/a", 7, "t", 0x87, "Not authorized", now=5.0)
    assert (r.first_seq, r.last_seq, r.count) == (7, 7, 1)
    assert log.get_timer() is None
