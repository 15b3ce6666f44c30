"""control.runtime.heap_trim: the C heap's freed megabytes go back to the system (issue
22: the service's RSS stepped up at every broker outage longer than any before)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from control.core.config import load_config
from control.runtime.heap_trim import malloc_stats, trim_heap_every

# A transient like an outage's backlog: ~14 MB of payload-sized buffers (malloc, not
# pymalloc), a few kept scattered through the heap, the rest freed; then the service's
# trimmer runs for a moment (interval 0: never, as before the fix).
SNIPPET = """
import asyncio, os, random, sys
from control.runtime.heap_trim import trim_heap_every

def rss_kib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))

random.seed(1)
base = rss_kib()
payloads = [os.urandom(random.randint(600, 3000)) for _ in range(8000)]
kept = payloads[::50]
del payloads

async def main(interval):
    task = asyncio.create_task(trim_heap_every(interval, above_bytes=1 << 20))
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

asyncio.run(main(float(sys.argv[1])))
print(rss_kib() - base)
"""


def _kept_kib(interval: float) -> int:
    run = subprocess.run([sys.executable, "-c", SNIPPET, str(interval)], capture_output=True,
                         text=True, timeout=120, check=True)
    return int(run.stdout.strip())


def test_freed_heap_goes_back_to_the_system() -> None:
    assert malloc_stats() is not None, "these tests need glibc (mallinfo2, malloc_trim)"
    untrimmed, trimmed = _kept_kib(0.0), _kept_kib(0.1)
    assert untrimmed > 8 * 1024, f"the transient should stay resident untrimmed: {untrimmed}"
    assert trimmed < untrimmed / 3, f"trimmed {trimmed} KiB, untrimmed {untrimmed} KiB"


async def test_the_trimmer_is_off_at_0_and_on_by_default() -> None:
    assert load_config().loop.heap_trim_s == 10.0
    await trim_heap_every(0.0)  # returns at once instead of looping


@pytest.mark.parametrize("interval", [-1.0, 0.0])
async def test_a_non_positive_interval_returns(interval: float) -> None:
    await trim_heap_every(interval)
