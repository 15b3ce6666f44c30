"""A mission over a noisy cable: the simulator behind ``NoiseProxy`` at 0.5 % byte errors."""

from __future__ import annotations

from sim_hw.line_noise import NoiseConfig
from sim_hw.noise_proxy import NoiseProxy

from .control_helpers import SMALL_MISSION, run_mission, simulator

# A lower time scale than the other mission tests: at 8x the simulator, the proxy and the
# controller share one process and one loaded core, and at 0.5 % noise the line's work, not
# the noise, then decides the outcome. At 2x the small mission takes about 60 plant seconds.
TIME_SCALE = 2.0
NOISE = 0.005  # bit flips, drops, duplicates and insertions: 0.5 % of the bytes in total


async def test_mission_completes_at_half_a_percent_byte_errors():
    async with simulator(time_scale=TIME_SCALE) as (rig, url):
        async with NoiseProxy(url, NoiseConfig.mixed(NOISE), seed=11) as proxy:
            _ctl, s = await run_mission(proxy.url, max_wall_s=240.0, time_scale=TIME_SCALE)
            garbled = {k: v for k, v in (proxy.to_host.counters + proxy.to_rig.counters).items()
                       if k not in ("bytes_in", "bytes_out")}
            sizer = rig.batch_sizer
    assert s.mission_complete, s
    assert s.mass_dumped_kg >= SMALL_MISSION.target_kg - 0.5
    # the noise was real, in both directions, and of every kind
    assert s.link["crc_errors"] + s.link["framing_errors"] > 100, s.link
    assert {"bit_flip", "drop", "duplicate", "insert"} <= set(garbled), garbled
    # the firmware saw the line as noisy and sent batches shorter than the nominal one
    assert sizer.byte_error_rate > NOISE / 4, sizer.byte_error_rate
    assert sizer.batch_samples() < rig.config.batch_samples
