"""Hypothesis strategies for the contract's typed payloads (shared by the payload tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from telemetry.contract.event_details import (
    EvictedRange,
    InterlockChange,
    OutboxEvicted,
    StorageFull,
)
from telemetry.contract.names import EventKind
from telemetry.contract.param_table import ParamSpec
from telemetry.contract.rig_state import MissionReport, RigState, SiteReport, StorageReport
from telemetry.contract.status_info import DownlinkHealth, RigInfo

names = st.from_regex(r"[A-Za-z0-9_.\-]{1,16}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
opt_finite = st.none() | finite
opt_text = st.none() | st.text(max_size=12)
opt_bool = st.none() | st.booleans()
counts = st.dictionaries(st.text(max_size=10), st.integers(0, 2**31), max_size=4)
json_scalar = (st.none() | st.booleans() | st.integers(-(2**53), 2**53) | finite
               | st.text(max_size=20))
json_value = st.recursive(json_scalar, lambda c: st.lists(c, max_size=4)
                          | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)
json_obj = st.dictionaries(st.text(max_size=10), json_value, max_size=6)
#: event kinds the contract gives no typed detail (any fields go)
free_kinds = names.filter(lambda k: EventKind.lookup(k) not in (
    EventKind.INTERLOCK_TRIPPED, EventKind.INTERLOCK_CLEARED, EventKind.OUTBOX_EVICTED,
    EventKind.STORAGE_FULL, EventKind.STORAGE_RECOVERED))

sites = st.builds(SiteReport, st.text(max_size=8), finite, opt_finite, st.integers(0, 99),
                  st.text(max_size=12))
missions = st.builds(MissionReport, st.text(max_size=8), finite, opt_finite,
                     st.integers(0, 999), st.lists(sites, max_size=3).map(tuple),
                     st.text(max_size=8), st.none() | st.tuples(finite, finite))
#: a settable parameter's table entry (lo <= hi)
param_specs = st.builds(lambda name, unit, a, b, doc, integer, used: ParamSpec(
    name, unit, min(a, b), max(a, b), doc, integer, used), names, st.text(max_size=6),
    finite, finite, st.text(max_size=12), st.booleans(), st.booleans())


def _extra(known: tuple[str, ...]) -> st.SearchStrategy[dict[str, object]]:
    return st.dictionaries(st.text(max_size=10).filter(lambda k: k not in known), json_value,
                           max_size=4)


_NUMBERS = ("since", "drum_current_a", "drum_speed_rad_s", "cut_depth_m", "tilt_deg",
            "motor_temp_c", "battery_v", "x_m", "y_m", "bucket_kg", "load_cell_kg", "model_kg",
            "energy_j")
rig_states = st.builds(
    RigState, mode=opt_text, phase=opt_text, mission_running=opt_bool, motors_enabled=opt_bool,
    load_cell_ok=opt_bool, interlocks=st.lists(st.text(max_size=12), max_size=3).map(tuple),
    interlock_trips=counts, stalls=counts, mission=st.none() | missions,
    params=st.none() | st.dictionaries(names, finite, max_size=5),
    extra=_extra(RigState.KEYS), **{n: opt_finite for n in _NUMBERS})
#: the clock and storage fields (their own strategy: the one above is slow enough)
clock_storage_states = st.builds(
    RigState, mode=opt_text, clock_offset_s=opt_finite, clock_sync_age_s=opt_finite,
    clock_source=opt_text,
    storage=st.none() | st.builds(StorageReport, st.booleans(), opt_text,
                                  *[st.integers(0, 2**40)] * 4))
rig_infos = st.builds(
    RigInfo, opt_text, opt_text, opt_text,
    _extra(("software", "version", "software_version", "downlink", "strategy", "params")),
    st.none() | st.builds(DownlinkHealth, st.integers(0, 2**31), st.integers(0, 2**31)),
    opt_text, st.lists(param_specs, max_size=4).map(tuple))
interlock_changes = st.builds(InterlockChange, st.text(max_size=12), opt_text, opt_finite,
                              opt_finite)
storage_reports = st.builds(
    StorageFull, opt_text, st.text(max_size=12),
    st.lists(st.builds(EvictedRange, names, st.integers(0, 2**40), st.integers(0, 2**40),
                       st.integers(1, 2**31)), max_size=3).map(tuple),
    st.integers(0, 2**40))
outbox_evictions = st.builds(
    OutboxEvicted,
    st.lists(st.builds(EvictedRange, names, st.integers(0, 2**40), st.integers(0, 2**40),
                       st.integers(1, 2**31)), max_size=3).map(tuple),
    st.integers(0, 2**40), st.booleans())
