"""The noisy-line model and the noise proxy over real pseudo-terminals."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.bridge import Bridge, BridgeConfig
from sim_hw.errors import SimUsageError
from sim_hw.line_noise import LineNoise, NoiseConfig, parse_noise
from sim_hw.noise_proxy import NoiseProxy
from sim_hw.rig import Rig, RigConfig

pytestmark = pytest.mark.usefixtures("frozen_heap")  # an in-process rig: tests/conftest.py


def model(cfg: NoiseConfig, seed: int = 0) -> LineNoise:
    return LineNoise(cfg, np.random.default_rng(seed))


@given(st.binary(max_size=2000), st.integers(0, 2**32 - 1))
def test_a_quiet_line_passes_every_byte(data: bytes, seed: int) -> None:
    assert model(NoiseConfig(), seed).apply(data) == data


@settings(max_examples=50)
@given(st.binary(min_size=1, max_size=3000), st.integers(0, 2**32 - 1))
def test_each_kind_changes_the_length_as_it_should(data: bytes, seed: int) -> None:
    flips = model(NoiseConfig(bit_flip=0.2), seed)
    out = flips.apply(data)
    assert len(out) == len(data)
    assert sum(a != b for a, b in zip(out, data, strict=True)) == flips.counters["bit_flip"]
    drops = model(NoiseConfig(drop=0.2), seed)
    assert len(drops.apply(data)) == len(data) - drops.counters["drop"]
    dups = model(NoiseConfig(duplicate=0.2), seed)
    assert len(dups.apply(data)) == len(data) + dups.counters["duplicate"]
    ins = model(NoiseConfig(insert=0.2), seed)
    assert len(ins.apply(data)) == len(data) + ins.counters["insert"]


def test_rates_are_what_was_asked_and_seeds_reproduce() -> None:
    data = bytes(range(256)) * 400  # 102,400 bytes
    a = model(NoiseConfig.mixed(0.01), seed=7)
    out = a.apply(data)
    for kind in ("bit_flip", "drop", "duplicate", "insert"):
        assert 180 < a.counters[kind] < 330, (kind, a.counters)  # 256 expected, +-5 sigma
    assert model(NoiseConfig.mixed(0.01), seed=7).apply(data) == out
    assert model(NoiseConfig.mixed(0.01), seed=8).apply(data) != out


def test_a_burst_garbles_consecutive_bytes_across_chunks() -> None:
    m = model(NoiseConfig(burst=0.5, burst_len=64), seed=3)
    data = bytes(100)
    first = m.apply(data[:10])
    second = m.apply(data)
    assert m.counters["burst"] >= 1
    assert len(first) == 10 and len(second) == 100
    assert sum(second[:20]) > 0  # the burst from the first chunk went on into the second


@pytest.mark.parametrize(("spec", "message"), [
    ("drop=0.9", "expected a rate in [0, 0.5]"),
    ("flip=0.1", "expected NAME=VALUE with NAME one of"),
    ("burst_len=0", "burst_len: expected 1..4096"),
    ("drop=x", "drop: expected a number, got 'x'"),
    ("bit_flip=0.2,drop=0.2,insert=0.2", "total byte error rate"),
])
def test_bad_specs_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(SimUsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_noise(spec)


def test_a_mixed_rate_parses() -> None:
    assert parse_noise("0.004") == NoiseConfig(0.001, 0.001, 0.001, 0.001)
    assert parse_noise("drop=0.01,burst=1e-4,burst_len=8") == NoiseConfig(
        drop=0.01, burst=1e-4, burst_len=8)


async def test_the_bridge_works_through_a_noisy_proxy_in_front_of_the_simulator() -> None:
    rig = Rig(RigConfig(seed=1, time_scale=1.0))
    upstream = await rig.start()
    try:
        async with NoiseProxy(upstream, NoiseConfig.mixed(0.002), seed=5) as proxy:
            assert proxy.url != upstream
            async with Bridge(proxy.url, BridgeConfig(connect_timeout=10.0)) as bridge:
                batches = 0
                async with asyncio.timeout(20):
                    async for ev in bridge.events():
                        msg = getattr(ev, "message", None)
                        if type(msg).__name__ == "SampleBatch":
                            batches += 1
                            if batches >= 50:
                                break
            damaged = sum(proxy.to_host.counters[k] + proxy.to_rig.counters[k]
                          for k in ("bit_flip", "drop", "duplicate", "insert"))
            assert damaged > 0  # the line really was noisy ...
            assert bridge.link.counters().crc_errors + bridge.link.counters(
            ).framing_errors > 0  # ... the link saw it, and samples still flowed
    finally:
        await rig.stop()


async def test_the_proxy_reconnects_when_the_rig_side_goes_away() -> None:
    rig = Rig(RigConfig(seed=1))
    upstream = await rig.start()
    proxy = NoiseProxy(upstream, NoiseConfig(), seed=1)
    await proxy.start()
    try:
        await rig.stop()  # the rig's pty vanishes
        rig = Rig(RigConfig(seed=1))
        await rig.start()  # a new one, at a new pty path: the proxy keeps its url
        proxy.upstream_url = rig.url
        async with asyncio.timeout(10):
            while proxy.reconnects < 1:
                await asyncio.sleep(0.02)
        async with Bridge(proxy.url, BridgeConfig(connect_timeout=10.0)) as bridge:
            assert bridge.info is not None
    finally:
        await proxy.stop()
        await rig.stop()
