"""Errors of the recording stores (one tree; driver errors are translated at the boundary).

``StoreConfigError``: you named a store wrongly (bad URL, unknown scheme, bad retention).
``StoreUnavailableError``: the database could not be reached or dropped the connection;
a writer retries, a reader reports it. ``StoreSchemaError``: the store was written by a
newer version of these tools (its schema version is above the ones this code knows).
"""

from __future__ import annotations

__all__ = ["StoreConfigError", "StoreError", "StoreSchemaError", "StoreUnavailableError"]


class StoreError(Exception):
    """Base of every recording-store error."""


class StoreConfigError(StoreError, ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class StoreUnavailableError(StoreError, ConnectionError):
    pass


class StoreSchemaError(StoreError):
    def __init__(self, found: int, known: int, where: str) -> None:
        super().__init__(f"{where}: schema version {found} is newer than this version of "
                         f"rig-ground knows ({known}); upgrade rig-ground")
        self.found = found
        self.known = known
