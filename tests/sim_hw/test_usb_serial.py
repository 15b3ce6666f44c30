"""The USB-serial adapter model: packets, the latency timer, jitter, order (pure, plain numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from sim_hw.errors import SimUsageError
from sim_hw.noise_proxy import main as proxy_main
from sim_hw.usb_serial import UsbSerialConfig


def line(latency_ms: float = 16.0, jitter_ms: float = 0.0, seed: int = 1):
    cfg = UsbSerialConfig(latency_ms=latency_ms, jitter_ms=jitter_ms)
    return cfg.device_to_host(np.random.default_rng(seed))


def test_a_heartbeat_waits_for_the_latency_timer() -> None:
    usb = line()
    usb.feed(b"h" * 34, now=10.0)  # a heartbeat frame never fills a packet
    assert usb.poll(10.0159) == b""
    assert usb.next_due() == pytest.approx(10.016)
    assert usb.poll(10.016) == b"h" * 34
    assert usb.packets == 1 and usb.full_packets == 0
    assert usb.next_due() is None


def test_full_packets_go_at_once_and_the_rest_after_the_timer() -> None:
    usb = line()
    data = bytes(range(200))  # a sample batch: three full packets and 8 bytes
    usb.feed(data, now=0.0)
    assert usb.poll(0.0) == data[:192]
    assert usb.full_packets == 3
    usb.feed(b"xy", now=0.010)  # joins the waiting 8 bytes: still the first byte's timer
    assert usb.poll(0.0159) == b""
    assert usb.poll(0.016) == data[192:] + b"xy"


def test_jitter_delays_but_never_reorders() -> None:
    usb = line(latency_ms=1.0, jitter_ms=5.0, seed=7)
    sent = bytearray()
    got = bytearray()
    t = 0.0
    for i in range(500):
        chunk = bytes([i % 251]) * (1 + (i * 37) % 150)
        usb.feed(chunk, t)
        sent += chunk
        t += 0.0005
        got += usb.poll(t)
    got += usb.poll(t + 1.0)
    assert bytes(got) == bytes(sent)
    assert max(usb.delays) <= 0.001 + 0.005 + 1e-9
    assert min(usb.delays) >= 0.0


def test_one_ms_latency_bounds_the_delay() -> None:
    usb = line(latency_ms=1.0, jitter_ms=0.0)
    usb.feed(b"a", 0.0)
    assert usb.poll(0.001) == b"a"
    assert max(usb.delays) == pytest.approx(0.001)


@pytest.mark.parametrize("kwargs", [{"latency_ms": 0.0}, {"latency_ms": float("nan")},
                                    {"packet_bytes": 4}, {"jitter_ms": -1.0}])
def test_bad_settings_name_the_field(kwargs) -> None:
    field = next(iter(kwargs))
    with pytest.raises(SimUsageError, match=field):
        UsbSerialConfig(**kwargs)


def test_cli_refuses_a_bad_latency_before_opening_anything(capsys) -> None:
    assert proxy_main(["/nonexistent", "--usb", "--latency-ms", "0"]) == 2
    assert "latency_ms: expected 1..255" in capsys.readouterr().err
