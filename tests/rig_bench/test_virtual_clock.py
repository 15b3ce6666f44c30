"""``rig_bench.virtual_clock.VirtualClockLoop``: simulated time that jumps to the next
timer, ready callbacks first, and a real wait only when no timer is pending."""

from __future__ import annotations

import asyncio
import time

from rig_bench.virtual_clock import VirtualClockLoop


def run(coro_fn):  # type: ignore[no-untyped-def]
    loop = VirtualClockLoop()
    try:
        return loop, loop.run_until_complete(coro_fn(loop))
    finally:
        loop.close()


def test_an_hour_of_sleep_takes_no_wall_time_and_lands_exactly() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> float:
        await asyncio.sleep(3600.0)
        return loop.time()

    t0 = time.perf_counter()
    loop, t = run(main)
    assert t == 3600.0
    assert time.perf_counter() - t0 < 1.0
    assert loop.jumps >= 1


def test_timers_fire_in_order_at_their_simulated_times() -> None:
    fired: list[tuple[str, float, float]] = []

    async def main(loop: asyncio.AbstractEventLoop) -> None:
        done = loop.create_future()
        for name, when in (("c", 0.3), ("a", 0.1), ("d", 12.5), ("b", 0.2)):
            loop.call_at(when, lambda n=name, w=when: fired.append((n, w, loop.time())))
        loop.call_at(13.0, done.set_result, None)
        await done

    run(main)
    assert [f[0] for f in fired] == ["a", "b", "c", "d"]
    assert all(abs(at - when) < 1e-9 for _n, when, at in fired), fired


def test_ready_callbacks_run_before_the_clock_moves() -> None:
    seen: list[float] = []

    async def main(loop: asyncio.AbstractEventLoop) -> None:
        def chain(n: int) -> None:
            seen.append(loop.time())
            if n:
                loop.call_soon(chain, n - 1)

        loop.call_later(5.0, lambda: None)  # a pending timer the clock could jump to
        chain(100)
        for _ in range(200):
            await asyncio.sleep(0)

    run(main)
    assert len(seen) == 101 and set(seen) == {0.0}


def test_without_a_timer_the_loop_waits_for_a_worker_thread_and_time_stands_still() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> tuple[float, float]:
        t0 = time.perf_counter()
        await loop.run_in_executor(None, time.sleep, 0.05)
        return loop.time(), time.perf_counter() - t0

    _loop, (simulated, wall) = run(main)
    assert simulated == 0.0
    assert wall >= 0.04  # it really waited for the thread
