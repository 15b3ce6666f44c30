"""A finite number within bounds: the one check behind every config, plan and payload reader.

``bounded_problem(value, lo, hi)`` says what is wrong with ``value`` as a finite
number in ``[lo, hi]`` (``None`` when nothing is); ``finite_in`` and ``int_in``
return the checked value or raise ``error(key, problem)``. The rules, the same
everywhere:

* ``bool`` is not a number (``True`` is an ``int`` to Python, never to us);
* ``int`` and ``float`` are numbers; NaN and infinities are not finite, and an
  integer too large for a float (``10**400``) is not finite either (no
  ``OverflowError`` escapes);
* bounds are inclusive; a missing bound is ``-inf``/``inf``.

Problems read ``expected a finite number, got 'fast'``, ``expected 0 .. 1, got 2``,
``expected >= 5, got 3``; the caller adds the key.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["BoundsError", "ErrorFactory", "bounded_problem", "finite_in", "int_in", "short_repr"]

#: Builds the caller's exception from (key, problem).
ErrorFactory = Callable[[str, str], Exception]


class BoundsError(ValueError):
    """Default error of ``finite_in``/``int_in`` when the caller passes none."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


def short_repr(value: object) -> str:
    """``repr(value)`` cut to 40 characters, for error messages about untrusted input."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond the interpreter's digit limit
        return f"an integer of about {value.bit_length() * 0.30103:.0f} digits" \
            if isinstance(value, int) else f"a {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."


def _range(lo: float, hi: float) -> str:
    if lo > -math.inf and hi < math.inf:
        return f"{lo:g} .. {hi:g}"
    if lo > -math.inf:
        return f">= {lo:g}"
    return f"<= {hi:g}"


def bounded_problem(value: object, lo: float = -math.inf, hi: float = math.inf, *,
                    integer: bool = False) -> str | None:
    """What is wrong with *value* as a finite number (an ``int`` if *integer*) in
    ``[lo, hi]``; ``None`` when it is one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a finite number"
        return f"expected {kind}, got {short_repr(value)}"
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if not math.isfinite(as_float):
        return f"expected a finite number, got {short_repr(value)}"
    if not lo <= value <= hi:
        shown = f"{value:g}" if isinstance(value, float) else short_repr(value)
        return f"expected {_range(lo, hi)}, got {shown}"
    return None


def finite_in(value: object, key: str, lo: float = -math.inf, hi: float = math.inf, *,
              error: ErrorFactory = BoundsError) -> float:
    """*value* as a ``float`` if it is a finite number in ``[lo, hi]``, else raise
    ``error(key, problem)``."""
    problem = bounded_problem(value, lo, hi)
    if problem is not None:
        raise error(key, problem)
    return float(value)  # type: ignore[arg-type]


def int_in(value: object, key: str, lo: float = -math.inf, hi: float = math.inf, *,
           error: ErrorFactory = BoundsError) -> int:
    """*value* if it is an ``int`` (not a ``bool``) in ``[lo, hi]``, else raise
    ``error(key, problem)``."""
    problem = bounded_problem(value, lo, hi, integer=True)
    if problem is not None:
        raise error(key, problem)
    return value  # type: ignore[return-value]
