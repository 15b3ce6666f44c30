"""Reading typed fields out of a decoded JSON object, naming the field in every error.

The typed payloads (``payloads``, ``rig_state``, ``event_details``) decode their
JSON with these helpers, so a malformed payload is refused with a
:class:`PayloadDecodeError` that says which field (``state.x_m``,
``fields.evicted[2].count``) was expected to hold what and what it held.
Rules: a ``bool`` is never a number; numbers are finite (JSON has no NaN, and
the rover writes ``null`` for a value it does not know); an absent optional
field is its default, an absent required field is an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeAlias

from telemetry.contract.errors import PayloadDecodeError

__all__ = [
    "JsonObject",
    "JsonValue",
    "json_object",
    "optional_bool",
    "optional_number",
    "optional_str",
    "req_bool",
    "req_int",
    "req_number",
    "req_str",
    "str_int_map",
    "str_tuple",
]

#: Any value a JSON document can hold: where a payload really carries arbitrary JSON.
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"


def _name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _bad(path: str, expected: str, value: object) -> PayloadDecodeError:
    return PayloadDecodeError(f"field {path!r}: expected {expected}, got {_name(value)}")


def _present(body: Mapping[str, object], key: str, path: str) -> object:
    if key not in body:
        raise PayloadDecodeError(f"missing field {path!r}")
    return body[key]


def json_object(value: object, path: str) -> Mapping[str, object]:
    """*value* as a JSON object with string keys."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _bad(path, "an object", value)
    return value


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(path, "a number", value)
    if not math.isfinite(value):
        raise PayloadDecodeError(f"field {path!r}: expected a finite number, got {value}")
    return float(value)


def req_number(body: Mapping[str, object], key: str, path: str) -> float:
    return _number(_present(body, key, path), path)


def optional_number(body: Mapping[str, object], key: str, path: str) -> float | None:
    value = body.get(key)
    return None if value is None else _number(value, path)


def req_int(body: Mapping[str, object], key: str, path: str) -> int:
    value = _present(body, key, path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(path, "an integer", value)
    return value


def req_str(body: Mapping[str, object], key: str, path: str) -> str:
    value = _present(body, key, path)
    if not isinstance(value, str):
        raise _bad(path, "a string", value)
    return value


def optional_str(body: Mapping[str, object], key: str, path: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(path, "a string or null", value)
    return value


def req_bool(body: Mapping[str, object], key: str, path: str) -> bool:
    value = _present(body, key, path)
    if not isinstance(value, bool):
        raise _bad(path, "true or false", value)
    return value


def optional_bool(body: Mapping[str, object], key: str, path: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _bad(path, "true, false or null", value)
    return value


def str_tuple(body: Mapping[str, object], key: str, path: str) -> tuple[str, ...]:
    """An optional list of strings (absent: empty)."""
    value = body.get(key, [])
    if not isinstance(value, list):
        raise _bad(path, "a list of strings", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _bad(f"{path}[{i}]", "a string", item)
    return tuple(value)


def str_int_map(body: Mapping[str, object], key: str, path: str) -> dict[str, int]:
    """An optional object of integer counts (absent: empty)."""
    value = json_object(body.get(key, {}), path)
    out: dict[str, int] = {}
    for name, count in value.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise _bad(f"{path}.{name}", "an integer", count)
        out[name] = count
    return out
