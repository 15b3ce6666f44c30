"""The shared helpers: one rule for a finite number in bounds, one TOML file reader."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rig_common import BoundsError, TomlFileError, bounded_problem, finite_in, int_in, load_toml

anything = (st.none() | st.booleans() | st.integers() | st.integers(-(10**5000), 10**5000)
            | st.floats() | st.text(max_size=10) | st.lists(st.integers(), max_size=3)
            | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond the float range
        return False


@given(anything, st.floats(allow_nan=False), st.floats(allow_nan=False))
@example(1e308, 0.0, 1e308)  # finite and in range (the oracle once called it infinite)
@example(10**309, 0.0, math.inf)  # an int beyond the float range is not a finite number
def test_bounded_problem_is_total_and_agrees_with_the_rule(value, a, b) -> None:
    lo, hi = min(a, b), max(a, b)
    problem = bounded_problem(value, lo, hi)
    ok = (not isinstance(value, bool) and isinstance(value, int | float)
          and _finite(value) and lo <= value <= hi)
    assert (problem is None) is ok, (value, lo, hi, problem)
    if problem is not None:
        assert problem.startswith("expected ") and len(problem) < 120


@pytest.mark.parametrize(("value", "kwargs", "problem"), [
    (True, {}, "expected a finite number, got True"),
    ("fast", {}, "expected a finite number, got 'fast'"),
    (math.inf, {}, "expected a finite number, got inf"),
    (10**400, {}, "expected a finite number"),
    (2.5, {"lo": 0, "hi": 1}, "expected 0 .. 1, got 2.5"),
    (-1, {"lo": 0}, "expected >= 0, got -1"),
    (7, {"hi": 5}, "expected <= 5, got 7"),
])
def test_problems_say_what_was_expected_and_got(value, kwargs, problem) -> None:
    assert problem in (bounded_problem(value, **kwargs) or "")


def test_finite_in_and_int_in_raise_the_callers_error_naming_the_key() -> None:
    class MyError(Exception):
        def __init__(self, key: str, problem: str) -> None:
            super().__init__(f"{key}: {problem}")
            self.key = key

    assert finite_in(3, "a.b", 0, 5) == 3.0 and isinstance(finite_in(3, "a.b"), float)
    with pytest.raises(MyError) as info:
        finite_in(9, "a.b", 0, 5, error=MyError)
    assert info.value.key == "a.b"
    assert int_in(4, "n", 1, 10) == 4
    with pytest.raises(BoundsError, match="n: expected an integer, got 4.0"):
        int_in(4.0, "n")
    with pytest.raises(BoundsError, match="expected an integer, got True"):
        int_in(True, "n")


def test_load_toml_names_the_file_and_the_problem(tmp_path) -> None:
    good = tmp_path / "a.toml"
    good.write_text("x = 1\n[s]\ny = 'z'\n")
    assert load_toml(good) == {"x": 1, "s": {"y": "z"}}
    bad = tmp_path / "b.toml"
    bad.write_text("[s\n")
    with pytest.raises(TomlFileError) as info:
        load_toml(bad, key="<mission file>")
    assert info.value.key == "<mission file>" and "not valid TOML" in str(info.value)
    with pytest.raises(TomlFileError, match="cannot read"):
        load_toml(tmp_path / "missing.toml")
    latin = tmp_path / "c.toml"
    latin.write_bytes(b"x = '\xe9'\n")
    with pytest.raises(TomlFileError, match="UTF-8|not valid TOML"):
        load_toml(latin)
