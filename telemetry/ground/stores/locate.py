"""Which store a name means, and how long it keeps rows: the parsing of user input.

``postgresql://user[:password]@host[:port]/database`` (or ``postgres://``) is the
fleet store; ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a plain path is
a SQLite file. A retention is ``30d``, ``12h``, ``90m``, ``600s`` or plain seconds;
``forever`` (or ``0``) keeps everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from telemetry.ground.stores.base import RecordingStore
from telemetry.ground.stores.errors import StoreConfigError
from telemetry.ground.stores.urls import redact_url

__all__ = ["StoreKind", "StoreTarget", "open_store", "parse_retention", "parse_target",
           "redact_url"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


class StoreKind(Enum):
    SQLITE = "sqlite"
    POSTGRES = "postgresql"


@dataclass(frozen=True, slots=True)
class StoreTarget:
    kind: StoreKind
    location: str  # a file path (SQLite) or the URL (PostgreSQL)


def parse_target(target: str | Path, key: str = "store") -> StoreTarget:
    if isinstance(target, Path):
        return StoreTarget(StoreKind.SQLITE, str(target))
    scheme, sep, rest = target.partition("://")
    if not sep:
        if not target:
            raise StoreConfigError(key, "expected a file path or a URL, got ''")
        return StoreTarget(StoreKind.SQLITE, target)
    if scheme in ("postgresql", "postgres"):
        return StoreTarget(StoreKind.POSTGRES, target)
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise StoreConfigError(key, f"expected sqlite:///path/to/file.db, got {target!r}")
        return StoreTarget(StoreKind.SQLITE, rest[1:])
    raise StoreConfigError(key, f"expected a file path, sqlite:///FILE or postgresql://..., "
                                f"got scheme {scheme!r}")


async def open_store(target: str | Path, *, recorder: str | None = None) -> RecordingStore:
    """Open (creating or migrating as needed) the store *target* names.

    *recorder* names the writer in the PostgreSQL store's rows. Raises
    ``StoreConfigError``, ``StoreUnavailableError`` or ``StoreSchemaError``.
    """
    where = parse_target(target)
    if where.kind is StoreKind.POSTGRES:
        from telemetry.ground.stores.postgres import PostgresStore

        return await PostgresStore.open(where.location, recorder=recorder)
    from telemetry.ground.stores.sqlite import SqliteStore

    return await SqliteStore.open(where.location)


def parse_retention(text: str, key: str = "retention") -> float | None:
    """Seconds to keep rows, or ``None`` for forever."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if text.strip().lower() == "forever":
        return None
    if m is None:
        raise StoreConfigError(key, f"expected a duration like 30d, 12h, 90m, 600s or "
                                    f"'forever', got {text!r}")
    seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    return seconds or None
