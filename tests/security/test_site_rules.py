"""Keep-out geometry, site-plan validation, quota slow-down and stop, public payloads."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.security import (
    PlanRules,
    SiteRulesPolicy,
    public_feed_payload,
    public_topics,
    safety_zone_for,
    safety_zone_payload,
    site_plan_from_dict,
)
from telemetry.contract.errors import SitePlanError
from telemetry.contract.geometry import contains, edge_distance, signed_distance, validate_polygon

SQUARE = [(10.0, 10.0), (14.0, 10.0), (14.0, 13.0), (10.0, 13.0)]
L_SHAPE = [(0, 0), (4, 0), (4, 1), (1, 1), (1, 4), (0, 4)]


def plan_dict(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "permit-LX-7", "clearance_m": 0.5, "safety_radius_m": 3.0,
        "slowdown_kg": 10.0, "min_speed_factor": 0.25,
        "site": [{"name": "A", "x": 3.0, "y": 0.0, "radius_m": 1.0, "quota_kg": 100.0},
                 {"name": "B", "x": 0.0, "y": 3.0, "radius_m": 1.0, "quota_kg": 40.0}],
        "keep_out": [{"name": "alsep", "kind": "heritage", "margin_m": 2.0,
                      "polygon": [list(p) for p in SQUARE]}],
    }
    data.update(over)
    return data


RULES = PlanRules(site_plan_from_dict(plan_dict()))


# --- geometry ---------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "inside"), [
    ((12, 11), True), ((10, 10), True), ((12, 10), True), ((9.99, 11), False),
    ((15, 11), False), ((12, 13.5), False),
])
def test_point_in_square(p, inside: bool) -> None:
    assert contains(SQUARE, p) is inside


@pytest.mark.parametrize(("p", "inside"), [
    ((0.5, 0.5), True), ((3, 0.5), True), ((0.5, 3), True), ((2, 2), False), ((1, 1), True),
    ((1.01, 1.01), False),
])
def test_point_in_concave_polygon(p, inside: bool) -> None:
    assert contains(L_SHAPE, p) is inside


def test_edge_distance_and_signed_distance() -> None:
    assert edge_distance((12, 8), SQUARE) == pytest.approx(2.0)
    assert edge_distance((16, 15), SQUARE) == pytest.approx(math.hypot(2, 2))  # corner
    assert signed_distance(SQUARE, (12, 11)) == pytest.approx(-1.0)
    assert signed_distance(L_SHAPE, (2, 2)) == pytest.approx(1.0)  # in the notch


@settings(max_examples=200, deadline=None)
@given(st.floats(-20, 40), st.floats(-20, 40))
def test_margin_grows_the_zone_outward_only(x: float, y: float) -> None:
    zone = RULES.zone_at(x, y)
    inside = contains(SQUARE, (x, y))
    near = edge_distance((x, y), SQUARE) <= 2.0 + 0.5
    assert (zone is not None) == (inside or near)


@pytest.mark.parametrize(("poly", "problem"), [
    ([(0, 0), (1, 0)], "at least 3 vertices"),
    ([(0, 0), (1, 1), (2, 2)], "zero area"),
    ([(0, 0), (2, 2), (2, 0), (0, 2)], "cross"),  # bow tie
])
def test_bad_polygons(poly, problem: str) -> None:
    assert problem in (validate_polygon(poly) or "")


# --- site plan validation ---------------------------------------------------------------

@pytest.mark.parametrize(("over", "key"), [
    ({"colour": "red"}, "site_plan.colour"),
    ({"site": []}, "site_plan.site"),
    ({"site": [{"name": "A", "x": 0, "y": 0}]}, "site_plan.site[0].quota_kg"),
    ({"site": [{"name": "A", "x": "0", "y": 0, "quota_kg": 1}]}, "site_plan.site[0].x"),
    ({"site": [{"name": "A b", "x": 0, "y": 0, "quota_kg": 1}]}, "site_plan.site[0].name"),
    ({"site": [{"name": "A", "x": 0, "y": 0, "quota_kg": -1}]}, "site_plan.site[0].quota_kg"),
    ({"site": [{"name": "A", "x": 0, "y": 0, "quota_kg": 1},
               {"name": "A", "x": 9, "y": 0, "quota_kg": 1}]}, "site_plan.site[1].name"),
    ({"site": [{"name": "A", "x": 0, "y": 0, "quota_kg": 1},
               {"name": "B", "x": 1.5, "y": 0, "quota_kg": 1}]}, "site_plan.site[1]"),
    ({"keep_out": [{"name": "z", "polygon": [[0, 0], [1, 0]]}]}, "site_plan.keep_out[0].polygon"),
    ({"keep_out": [{"name": "z", "polygon": [[0, 0], [1, "x"], [2, 2]]}]},
     "site_plan.keep_out[0].polygon[1]"),
    ({"keep_out": [{"name": "z", "polygon": [[20, 20], [21, 20], [21, 21]],
                    "margin_m": -1}]}, "site_plan.keep_out[0].margin_m"),
    ({"keep_out": [{"name": "z"}]}, "site_plan.keep_out[0].polygon"),
    ({"keep_out": [{"name": "z", "polygon": [[4.2, -1], [6, -1], [6, 1], [4.2, 1]]}]},
     "site_plan.keep_out[0].polygon"),  # reaches into site A
    ({"min_speed_factor": 0}, "site_plan.min_speed_factor"),
])
def test_invalid_site_plan_names_the_key(over: dict, key: str) -> None:
    with pytest.raises(SitePlanError) as info:
        site_plan_from_dict(plan_dict(**over))
    assert info.value.key == key, str(info.value)


# --- arm and dig ------------------------------------------------------------------------

def test_arm_refused_inside_zone_or_its_margin_and_allowed_elsewhere() -> None:
    assert not RULES.check_arm(12, 11).allowed
    d = RULES.check_arm(12, 8.0)  # 2 m below the square: within margin 2 + clearance 0.5
    assert not d.allowed and d.zone == "alsep" and "heritage keep-out zone 'alsep'" in d.reason
    assert RULES.check_arm(12, 7.4).allowed  # 2.6 m away
    assert RULES.check_arm(3, 0).site == "A"
    assert not RULES.check_arm(math.nan, 0).allowed


def test_dig_only_at_declared_sites() -> None:
    assert RULES.check_dig(3.5, 0.2, {}).allowed
    d = RULES.check_dig(6, 6, {})
    assert not d.allowed and "not within a declared dig site" in d.reason
    assert not RULES.check_dig(12, 11, {}).allowed


def test_quota_slows_then_stops_at_the_limit() -> None:
    factors = []
    for extracted in (0, 80, 90, 92.5, 95, 97.5, 99.9, 100, 130):
        d = RULES.check_dig(3, 0, {"A": extracted})
        factors.append(d.speed_factor)
        assert d.allowed is (extracted < 100)
    assert factors[:2] == [1.0, 1.0]
    assert factors[2] == pytest.approx(1.0)
    assert factors[3] == pytest.approx(0.25 + 0.75 * 0.75)
    assert factors[4] == pytest.approx(0.625)
    assert all(a >= b for a, b in itertools.pairwise(factors))  # monotone
    assert 0.25 <= factors[6] < 0.26
    assert factors[7:] == [0.0, 0.0]
    assert "quota of 100 kg at site 'A' reached" in RULES.check_dig(3, 0, {"A": 100}).reason


def test_bucket_mass_counts_against_the_quota() -> None:
    assert RULES.check_dig(0, 3, {"B": 30}, in_bucket_kg=5).remaining_kg == pytest.approx(5)
    assert not RULES.check_dig(0, 3, {"B": 30}, in_bucket_kg=10).allowed
    assert RULES.check_dig(0, 3, {"B": 30}, in_bucket_kg=math.nan).remaining_kg == 10


def test_policy_adapter_uses_durable_totals() -> None:
    totals = {"A": 99.0}
    policy = SiteRulesPolicy(RULES, lambda: totals)
    assert policy.refuse_dig(3, 0, extracted_kg=0.0) is None
    assert policy.remaining_kg(3, 0, 0.0) == pytest.approx(1.0)
    assert policy.speed_factor(3, 0, in_bucket_kg=0.5) == pytest.approx(0.2625, abs=0.03)
    totals["A"] = 100.0
    assert "quota" in (policy.refuse_dig(3, 0, 0.0) or "")
    assert "keep-out" in (policy.refuse_arm(12, 11) or "")


# --- public payloads --------------------------------------------------------------------

def test_safety_zone_at_a_site_and_between_sites() -> None:
    at_a = safety_zone_for(RULES, "rig-1", 3.2, 0.1)
    assert at_a is not None and (at_a.x, at_a.y, at_a.radius_m, at_a.site) == (3, 0, 4, "A")
    assert safety_zone_for(RULES, "rig-1", 2.9, -0.2) == at_a  # unchanged: not republished
    driving = safety_zone_for(RULES, "rig-1", 6.2, 6.4)
    assert driving is not None and driving.site is None and (driving.x, driving.y) == (6, 6)
    assert math.dist((6.2, 6.4), (driving.x, driving.y)) + 3.0 <= driving.radius_m
    assert safety_zone_for(RULES, "rig-1", math.nan, 0) is None
    body = json.loads(safety_zone_payload(at_a, 1_750_000_000.123))
    assert body == {"v": 1, "type": "safety_zone", "rig": "rig-1", "t_rig": 1750000000.123,
                    "frame": "site", "centre": [3.0, 0.0], "radius_m": 4.0, "site": "A"}


def test_public_feed_is_redacted() -> None:
    body = json.loads(public_feed_payload("rig-1", 1_750_000_000.0, "digging", 3.04321, -0.0123,
                                          "A", {"A": 54.75, "B": 18.25}))
    assert set(body) == {"v", "type", "rig", "t_rig", "mode", "position", "site",
                         "extracted_kg", "total_kg"}
    assert body["position"] == [3.0, -0.0] and body["total_kg"] == 73.0
    with pytest.raises(ValueError, match="mode"):
        public_feed_payload("rig-1", 0, "drum_current=31.2A", 0, 0, None, {})
    assert public_topics("regolith", "rig-1") == {
        "safety_zone": "public/regolith/rig-1/safety_zone", "feed": "public/regolith/rig-1/feed"}


def test_policy_adapter_allows_arming_away_from_sites_unless_strict() -> None:
    lenient = SiteRulesPolicy(RULES, dict)
    assert lenient.refuse_dig(0, 0, 0.0) is None  # the dump: the controller arms here
    assert "keep-out" in (lenient.refuse_dig(12, 11, 0.0) or "")
    strict = SiteRulesPolicy(RULES, dict, declared_sites_only=True)
    assert "not within a declared dig site" in (strict.refuse_dig(0, 0, 0.0) or "")
