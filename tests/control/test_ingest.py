"""control.runtime.ingest: the compiled kernel and its pure twin against a row-by-row oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from control.runtime import _ingest_py, ingest
from tests.compiled import compiled, uses_compiled

_ingest_c = compiled("control.runtime._ingest")

IMPLS = [pytest.param(_ingest_py, id="pure"), pytest.param(_ingest_c, id="compiled")]


def test_compiled_kernel_is_loaded() -> None:
    if uses_compiled(ingest, _ingest_c, "RIG_INGEST_PURE"):
        assert ingest.ingest is _ingest_c.ingest


def oracle(batches, ends, scale, offset, last, fresh, changed, saturated):
    """Row by row, channel by channel, in plain Python: what ``ingest`` promises."""
    c = len(scale)
    phys, prev = [], (list(batches[0][0]) if fresh else list(last))
    changed = [ends[0]] * c if fresh else list(changed)
    saturated = list(saturated)
    for batch, end in zip(batches, ends, strict=True):
        moved, rail, drop = [False] * c, [True] * c, [True] * c
        for row in batch.tolist():
            phys.append([math.nan if v == -32768 else v * scale[k] + offset[k]
                         for k, v in enumerate(row)])
            for k, v in enumerate(row):
                moved[k] |= v != prev[k]
                rail[k] &= v != -32768 and abs(v) >= 32767
                drop[k] &= v == -32768
                prev[k] = v
        for k in range(c):
            changed[k] = end if moved[k] else changed[k]
            saturated[k] = 1 if (rail[k] or drop[k]) else saturated[k]
    return phys, prev, changed, saturated


SPECIAL = st.sampled_from([32767, -32767, -32768, -32766, 32766, 0])


@st.composite
def inputs(draw: st.DrawFn):
    c = draw(st.integers(1, 6))
    batches = []
    for _ in range(draw(st.integers(1, 5))):
        n = draw(st.integers(1, 6))
        if batches and draw(st.booleans()):  # a flat batch: the previous row repeated
            batches.append(np.repeat(batches[-1][-1:], n, axis=0))
            continue
        cells = draw(st.lists(st.one_of(st.integers(-32768, 32767), SPECIAL),
                              min_size=n * c, max_size=n * c))
        batches.append(np.array(cells, dtype=np.int16).reshape(n, c))
    ends = sorted(draw(st.lists(st.integers(0, 2**40), min_size=len(batches),
                                max_size=len(batches))))
    scale = np.array(draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=c,
                                   max_size=c)))
    offset = np.array(draw(st.lists(st.floats(-100, 100, allow_nan=False), min_size=c,
                                    max_size=c)))
    fresh = draw(st.booleans())
    last = np.array(draw(st.lists(st.integers(-32768, 32767), min_size=c, max_size=c)),
                    dtype=np.int16)
    changed = np.array(draw(st.lists(st.integers(0, 2**40), min_size=c, max_size=c)),
                       dtype=np.int64)
    saturated = np.array(draw(st.lists(st.integers(0, 1), min_size=c, max_size=c)),
                         dtype=np.uint8)
    return batches, ends, scale, offset, last, fresh, changed, saturated


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=150, deadline=None)
@given(inputs())
@example(([np.array([[-32768, 32767], [32767, -32768]], dtype=np.int16)], [7],
          np.ones(2), np.zeros(2), np.zeros(2, dtype=np.int16), False,
          np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.uint8)))  # rail and dropout mixed
def test_ingest_equals_the_row_by_row_oracle(impl, args) -> None:
    batches, ends, scale, offset, last, fresh, changed, saturated = args
    want_phys, want_last, want_changed, want_sat = oracle(*args)
    phys = np.full((sum(b.shape[0] for b in batches), len(scale)), -1.0)
    last, changed, saturated = last.copy(), changed.copy(), saturated.copy()
    hits = impl.ingest(list(batches), list(ends), scale, offset, last, fresh, changed,
                       saturated, phys)
    np.testing.assert_allclose(phys, np.array(want_phys), rtol=1e-15, atol=1e-12)
    assert last.tolist() == want_last
    assert changed.tolist() == want_changed
    assert saturated.tolist() == want_sat
    assert hits == sum(want_sat)


@pytest.mark.parametrize("impl", IMPLS)
def test_bad_shapes_are_rejected_with_the_reason(impl) -> None:
    two = np.zeros(2)
    last, changed = np.zeros(2, dtype=np.int16), np.zeros(2, dtype=np.int64)
    sat, phys = np.zeros(2, dtype=np.uint8), np.zeros((3, 2))
    with pytest.raises(ValueError, match="channel counts differ"):
        impl.ingest([np.zeros((3, 3), dtype=np.int16)], [1], two, two, last, False, changed,
                    sat, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="1 batches with 2 end times"):
        impl.ingest([np.zeros((3, 2), dtype=np.int16)], [1, 2], two, two, last, False,
                    changed, sat, phys)
    with pytest.raises(ValueError, match="fewer than the batches"):
        impl.ingest([np.zeros((4, 2), dtype=np.int16)], [1], two, two, last, False, changed,
                    sat, phys)
