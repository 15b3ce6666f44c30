"""Payload codecs: hypothesis round trips, delivery flags, garbage gives only PayloadDecodeError."""

from __future__ import annotations

import json

import cbor2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from telemetry.contract import Severity
from telemetry.contract.errors import PayloadDecodeError, PayloadEncodeError
from telemetry.contract.names import EventKind
from telemetry.contract.payloads import (
    AckMessage,
    BatchBlock,
    BatchMessage,
    Envelope,
    EventMessage,
    LedgerMessage,
    StateMessage,
    StatsBlock,
    StatsMessage,
    StatusMessage,
    decode,
    encode,
    set_delivery_flags,
)
from telemetry.contract.rig_state import RigState

from .strategies import (
    finite,
    free_kinds,
    interlock_changes,
    json_obj,
    names,
    outbox_evictions,
    rig_infos,
    rig_states,
)

envelopes = st.builds(Envelope, rig=names, boot=st.integers(0, 2**31), seq=st.integers(0, 2**62),
                      t_rig=finite, t_mono=finite, historical=st.booleans(), resend=st.booleans())
severities = st.sampled_from(list(Severity))
json_messages = st.one_of(
    st.builds(StatusMessage, envelopes, st.booleans(), rig_infos),
    st.builds(StateMessage, envelopes, rig_states),
    st.builds(EventMessage, envelopes, free_kinds, severities, st.text(max_size=40),
              json_obj, st.integers(1, 1000), st.none() | finite),
    st.builds(EventMessage, envelopes, st.sampled_from([EventKind.INTERLOCK_TRIPPED,
                                                        EventKind.INTERLOCK_CLEARED]),
              severities, st.text(max_size=40), interlock_changes.map(lambda c: c.to_fields())),
    st.builds(EventMessage, envelopes, st.just(EventKind.OUTBOX_EVICTED), severities,
              st.text(max_size=40), outbox_evictions.map(lambda e: e.to_fields())),
    st.builds(AckMessage, envelopes, st.text(max_size=20), st.booleans(), st.text(max_size=20)),
    st.builds(LedgerMessage, envelopes, json_obj),
)
dtypes = st.sampled_from([np.float32, np.float64, np.int16, np.int32, np.uint8])


@st.composite
def batches(draw: st.DrawFn) -> BatchMessage:
    n_ch = draw(st.integers(1, 6))
    samples = draw(hnp.arrays(draw(dtypes), (draw(st.integers(0, 50)), n_ch)))
    return BatchMessage(draw(envelopes), BatchBlock(
        draw(names), tuple(draw(names) for _ in range(n_ch)),
        tuple(draw(st.text(max_size=4)) for _ in range(n_ch)), draw(finite), draw(finite), samples))


@st.composite
def stats(draw: st.DrawFn) -> StatsMessage:
    n_ch = draw(st.integers(1, 6))
    values = {k: draw(hnp.arrays(np.float64, (n_ch,))) for k in
              draw(st.lists(st.sampled_from(["mean", "min", "max", "std"]), unique=True))}
    return StatsMessage(draw(envelopes), StatsBlock(
        draw(names), tuple(f"c{i}" for i in range(n_ch)), ("N",) * n_ch, draw(finite),
        draw(finite), draw(st.integers(0, 10**6)), values))


def _same_arrays(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@given(json_messages)
def test_json_messages_round_trip(msg: object) -> None:
    data = encode(msg)
    assert data.startswith(b'{"historical":')
    json.loads(data)  # plain JSON, readable by any tool
    assert decode(data) == msg


@given(batches())
def test_batch_round_trip_is_exact(msg: BatchMessage) -> None:
    got = decode(encode(msg))
    assert isinstance(got, BatchMessage)
    assert (got.envelope, got.stream, got.channels, got.units, got.t0_rig, got.period_s) == \
        (msg.envelope, msg.stream, msg.channels, msg.units, msg.t0_rig, msg.period_s)
    assert _same_arrays(got.samples, msg.samples)


@given(stats())
def test_stats_round_trip_is_exact(msg: StatsMessage) -> None:
    got = decode(encode(msg))
    assert isinstance(got, StatsMessage)
    assert (got.envelope, got.count, got.window_s) == (msg.envelope, msg.count, msg.window_s)
    assert got.values.keys() == msg.values.keys()
    assert all(_same_arrays(got.values[k], msg.values[k]) for k in msg.values)


@given(json_messages | batches() | stats(), st.booleans(), st.booleans())
def test_delivery_flags_patch_equals_encoding_with_flags(msg: object, hist: bool, resend: bool
                                                         ) -> None:
    env = msg.envelope
    base = type(msg)(*([Envelope(env.rig, env.boot, env.seq, env.t_rig, env.t_mono)]
                       + [getattr(msg, f) for f in msg.__dataclass_fields__ if f != "envelope"]))
    got = decode(set_delivery_flags(encode(base), historical=hist, resend=resend))
    assert (got.envelope.historical, got.envelope.resend) == (hist, resend)
    assert got.envelope.seq == env.seq


def test_batch_is_less_than_half_the_size_of_json() -> None:
    samples = np.random.default_rng(1).normal(size=(500, 8)).astype(np.float32)
    msg = BatchMessage(Envelope("rig-1", 1, 7, 1.7e9, 12.5), BatchBlock("load", tuple("abcdefgh"),
                       ("N",) * 8, 1.7e9, 0.001, samples))
    as_json = json.dumps({"samples": samples.tolist()}).encode()
    assert len(encode(msg)) < len(as_json) / 2
    # Self-describing: a generic CBOR decoder sees tag 40 around a float32-LE typed array.
    raw = cbor2.loads(encode(msg))["samples"]
    assert raw.tag == 40 and raw.value[1].tag == 85 and list(raw.value[0]) == [500, 8]


def test_encode_rejects_bad_shapes_and_nan_in_json() -> None:
    env = Envelope("r", 1, 0, 0.0, 0.0)
    with pytest.raises(PayloadEncodeError, match=r"expected samples of shape \(n, 2\)"):
        encode(BatchMessage(env, BatchBlock("s", ("a", "b"), ("N", "N"), 0.0, 0.1,
                                            np.zeros((3, 3)))))
    with pytest.raises(PayloadEncodeError, match="JSON"):
        encode(StateMessage(env, RigState(extra={"x": float("nan")})))
    with pytest.raises(PayloadEncodeError, match="dtype"):
        encode(BatchMessage(env, BatchBlock("s", ("a",), ("N",), 0.0, 0.1,
                                            np.zeros((3, 1), complex))))


DECODED_TYPES = (StatusMessage, StateMessage, EventMessage, AckMessage, LedgerMessage,
                 BatchMessage, StatsMessage)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_raises_only_payload_decode_error(data: bytes) -> None:
    try:
        got = decode(data)
    except PayloadDecodeError as err:
        assert str(err), "a rejection names its problem"
    else:  # the rare garbage that parses must be a whole, typed message
        assert isinstance(got, DECODED_TYPES), type(got)


@settings(max_examples=300)
@given(batches() | json_messages, st.data())
def test_corrupted_payloads_raise_only_payload_decode_error(msg: object, data: st.DataObject
                                                            ) -> None:
    raw = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut]), bytes(raw) + b"\x00"):
        try:
            got = decode(candidate)
        except PayloadDecodeError as err:
            assert str(err), "a rejection names its problem"
        else:  # a corruption that still parses yields a whole, typed message
            assert isinstance(got, DECODED_TYPES), type(got)
