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


def _at(where: str, key: str) -> str:
    """The path of field *key* of the object at *where* (``state`` + ``x_m``); built only
    for an error message."""
    return f"{where}.{key}" if where else key


def _present(body: Mapping[str, object], key: str, where: str) -> object:
    if key not in body:
        raise PayloadDecodeError(f"missing field {_at(where, key)!r}")
    return body[key]


def json_object(value: object, path: str) -> Mapping[str, object]:
    """*value* as a JSON object (``dict``; its keys are checked where they are kept)."""
    if not isinstance(value, dict):
        raise _bad(path, "an object", value)
    return value


def _number(value: object, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(_at(where, key), "a number", value)
    if not math.isfinite(value):
        raise PayloadDecodeError(f"field {_at(where, key)!r}: expected a finite number, "
                                 f"got {value}")
    return float(value)


# Each reader takes the object, the key and *where*: the path of the object
# (``state``, ``state.mission.sites[1]``) that errors name the field by.


def req_number(body: Mapping[str, object], key: str, where: str) -> float:
    return _number(_present(body, key, where), where, key)


def optional_number(body: Mapping[str, object], key: str, where: str) -> float | None:
    value = body.get(key)
    return None if value is None else _number(value, where, key)


def req_int(body: Mapping[str, object], key: str, where: str) -> int:
    value = _present(body, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(_at(where, key), "an integer", value)
    return value


def req_str(body: Mapping[str, object], key: str, where: str) -> str:
    value = _present(body, key, where)
    if not isinstance(value, str):
        raise _bad(_at(where, key), "a string", value)
    return value


def optional_str(body: Mapping[str, object], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(_at(where, key), "a string or null", value)
    return value


def req_bool(body: Mapping[str, object], key: str, where: str) -> bool:
    value = _present(body, key, where)
    if not isinstance(value, bool):
        raise _bad(_at(where, key), "true or false", value)
    return value


def optional_bool(body: Mapping[str, object], key: str, where: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _bad(_at(where, key), "true, false or null", value)
    return value


def str_tuple(body: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    """An optional list of strings (absent: empty)."""
    value = body.get(key, [])
    if not isinstance(value, list):
        raise _bad(_at(where, key), "a list of strings", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _bad(f"{_at(where, key)}[{i}]", "a string", item)
    return tuple(value)


def str_int_map(body: Mapping[str, object], key: str, where: str) -> dict[str, int]:
    """An optional object of integer counts (absent: empty)."""
    value = json_object(body.get(key, {}), _at(where, key))
    out: dict[str, int] = {}
    for name, count in value.items():
        if not isinstance(name, str):
            raise _bad(_at(where, key), "an object with string keys", value)
        if isinstance(count, bool) or not isinstance(count, int):
            raise _bad(f"{_at(where, key)}.{name}", "an integer", count)
        out[name] = count
    return out
