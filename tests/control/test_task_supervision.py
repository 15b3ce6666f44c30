"""A failing non-safety task is logged, raised as an event and restarted; a failing
control loop ends the run."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from control.runtime.app import RigController
from control.runtime.task_supervisor import supervise
from rig_common.backoff import Backoff
from tests.integration.control_helpers import controller_config, simulator, wait_for

pytestmark = pytest.mark.usefixtures("frozen_heap")  # an in-process rig: tests/conftest.py


async def test_supervise_restarts_a_failing_body_until_it_returns() -> None:
    runs: list[int] = []
    failures: list[tuple[str, str, float]] = []

    async def body() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError(f"boom {len(runs)}")

    await asyncio.wait_for(
        supervise("job", body, lambda n, e, d: failures.append((n, str(e), d)),
                  backoff=Backoff(0.01, 0.02)), timeout=10)
    assert len(runs) == 3
    assert [(n, e) for n, e, _ in failures] == [("job", "boom 1"), ("job", "boom 2")]
    assert all(0.005 <= d <= 0.02 for _, _, d in failures)


async def test_supervise_lets_cancellation_through() -> None:
    started = asyncio.Event()

    async def body() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(supervise("job", body, lambda *a: None))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class FlakyDownlink:
    """A downlink whose command stream fails a few times."""

    def __init__(self, command_failures: int) -> None:
        self.config = SimpleNamespace(broker_url=None)
        self.connected = False
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.command_streams = 0
        self._command_failures = command_failures

    def link_ok(self, now: float | None = None) -> bool:
        return self.connected

    def publish_event(self, kind: str, severity: Any, text: str, **fields: Any) -> None:
        self.events.append((kind, fields))

    def publish_state(self, state: Any) -> None:
        pass

    def storage_status(self) -> None:
        return None

    def publish_batch(self, *args: Any) -> None:
        pass

    def publish_stats(self, *args: Any, **kwargs: Any) -> None:
        pass

    def publish_public(self, *args: Any, **kwargs: Any) -> None:
        pass

    def publish_ack(self, *args: Any) -> None:
        pass

    def publish_ledger(self, record: Any) -> None:
        pass

    async def commands(self):
        self.command_streams += 1
        if self._command_failures > 0:
            self._command_failures -= 1
            raise ConnectionError("command stream broke")
        await asyncio.Event().wait()
        yield  # pragma: no cover

    def restarted(self, task: str) -> int:
        return sum(1 for kind, f in self.events if kind == "task_restarted"
                   and f.get("task") == task)


async def test_failing_ground_and_telemetry_tasks_are_restarted_not_fatal() -> None:
    downlink = FlakyDownlink(command_failures=2)
    async with simulator() as (_rig, url):
        ctl = RigController(controller_config(stats_interval_s=0.05), url, downlink=downlink)
        assert ctl.telemetry is not None
        publish_all = ctl.telemetry.publish_all
        published = [0]

        def flaky_publish(feed: Any) -> None:  # a bug outside the per-topic guards
            published[0] += 1
            if published[0] == 1:
                raise ValueError("telemetry bug")
            publish_all(feed)

        ctl.telemetry.publish_all = flaky_publish  # type: ignore[method-assign]
        run = asyncio.create_task(ctl.run(max_wall_s=60))
        try:
            await wait_for(lambda: (downlink.command_streams >= 3 and published[0] >= 2)
                           or run.done(), 40, "ground and telemetry tasks restarted")
            assert not run.done(), run.exception() if run.done() else None
        finally:
            ctl.stop()
            summary = await asyncio.wait_for(run, 30)
    assert downlink.restarted("ground-commands") == 2
    assert downlink.restarted("telemetry") == 1
    assert ctl.task_failures == {"ground-commands": 2, "telemetry": 1}
    assert summary.final_mode == "idle"


async def test_a_failing_control_loop_ends_the_run() -> None:
    async with simulator() as (_rig, url):
        ctl = RigController(controller_config(), url)

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("control step broke")

        ctl.core.step = broken  # type: ignore[method-assign]
        with pytest.raises(BaseExceptionGroup) as caught:
            await asyncio.wait_for(ctl.run(max_wall_s=60), 40)
    assert caught.group_contains(RuntimeError, match="control step broke")
