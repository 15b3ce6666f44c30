"""Recording stores behind one interface: SQLite files and a PostgreSQL fleet database.

``await open_store("run.db")`` or ``await open_store("postgresql://host/db")`` gives a
:class:`RecordingStore`; ``record`` writes to it, ``report``, ``plot``, the ledger
check (and any other reader) read from it the same way whichever kind it is.
"""

from telemetry.ground.stores.base import (
    EvictedRange,
    MalformedRow,
    MessageRow,
    RecordedRow,
    RecordingStore,
    WriteItem,
    WriteOutcome,
)
from telemetry.ground.stores.errors import (
    StoreConfigError,
    StoreError,
    StoreSchemaError,
    StoreUnavailableError,
)
from telemetry.ground.stores.locate import (
    StoreKind,
    StoreTarget,
    open_store,
    parse_retention,
    parse_target,
    redact_url,
)

__all__ = [
    "EvictedRange",
    "MalformedRow",
    "MessageRow",
    "RecordedRow",
    "RecordingStore",
    "StoreConfigError",
    "StoreError",
    "StoreKind",
    "StoreSchemaError",
    "StoreTarget",
    "StoreUnavailableError",
    "WriteItem",
    "WriteOutcome",
    "open_store",
    "parse_retention",
    "parse_target",
    "redact_url",
]
