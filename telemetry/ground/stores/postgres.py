"""The fleet store: one PostgreSQL database written by many recorders at once (asyncpg).

Recorders sharing one MQTT 5 subscription each receive a share of the fleet's
messages, and a message may reach two of them (a rig's resend, a broker's
redelivery after a recorder crash). So duplicates are decided in the database:
``sequence_seen`` holds the first stored sighting of each ``(rig, stream, seq)``,
and each batch claims its numbers with ``INSERT ... ON CONFLICT`` in the same
transaction that copies the messages in. Whichever recorder commits a number first
stores it as unique; every later copy, from any recorder, is flagged duplicate. Keys
are claimed in sorted order, so two recorders never deadlock on each other's
numbers (a deadlock or serialization failure is retried anyway). A higher ``boot``
for a number already seen is a rig whose store was wiped (numbers restart): the new
message is stored as unique, as the SQLite store's accounting does.

``summarize`` computes the report's figures in SQL, with the same definitions as
:class:`telemetry.ground.summary.ReportBuilder` (tests hold the two to each other).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence

import asyncpg

from telemetry.ground.stores import migrations
from telemetry.ground.stores.base import (
    EvictedRange,
    MalformedRow,
    MessageRow,
    RecordedRow,
    WriteItem,
    WriteOutcome,
)
from telemetry.ground.stores.errors import (
    StoreError,
    StoreSchemaError,
    StoreUnavailableError,
)
from telemetry.ground.stores.urls import redact_url
from telemetry.ground.summary import StoreSummary, StreamReport

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x7269_6731  # advisory lock ids: arbitrary, fixed ("rig1", "rig2")
_PRUNE_LOCK = 0x7269_6732
_RETRIES = 5
_MESSAGE_COLUMNS = ("rig", "stream", "type", "boot", "seq", "topic", "received_at", "t_rig",
                    "t_mono", "historical", "resend", "duplicate", "stored_at", "recorder",
                    "payload")

_CLAIM = """
INSERT INTO sequence_seen AS s (rig, stream, seq, boot, received_at)
SELECT rig, stream, seq, boot, received_at
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::float8[])
    AS k(rig, stream, seq, boot, received_at)
ORDER BY rig, stream, seq
ON CONFLICT (rig, stream, seq) DO UPDATE
    SET boot = EXCLUDED.boot, received_at = EXCLUDED.received_at
    WHERE s.boot < EXCLUDED.boot
RETURNING rig, stream, seq
"""

_SUMMARY = """
WITH acc AS (
    SELECT id, rig, stream, seq, duplicate, resend, historical,
           received_at - t_rig AS latency
    FROM messages WHERE type <> 'status'),
firsts AS (
    SELECT DISTINCT ON (rig, stream, seq) rig, stream, seq, resend, historical, latency
    FROM acc ORDER BY rig, stream, seq, duplicate, id),
per_all AS (
    SELECT rig, stream, count(*) AS received, sum(resend::int) AS resends
    FROM acc GROUP BY rig, stream),
per_first AS (
    SELECT rig, stream, count(*) AS uniq, sum(resend::int) AS first_resends,
           sum(historical::int) AS hist, min(seq) AS lo, max(seq) AS hi,
           percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency)
               FILTER (WHERE NOT historical) AS pct
    FROM firsts GROUP BY rig, stream),
ev AS (
    SELECT DISTINCT rig, stream, generate_series(first_seq, last_seq) AS seq FROM evicted),
ev_count AS (SELECT rig, stream, count(*) AS n FROM ev GROUP BY rig, stream),
ev_gap AS (
    SELECT e.rig, e.stream, count(*) AS n
    FROM ev e JOIN per_first p ON p.rig = e.rig AND p.stream = e.stream
    WHERE e.seq BETWEEN p.lo AND p.hi AND NOT EXISTS (
        SELECT 1 FROM firsts f WHERE f.rig = e.rig AND f.stream = e.stream AND f.seq = e.seq)
    GROUP BY e.rig, e.stream)
SELECT p.rig, p.stream, a.received, p.uniq, a.resends - p.first_resends AS resent_dups,
       (p.hi - p.lo + 1) - p.uniq - COALESCE(g.n, 0) AS gaps, COALESCE(c.n, 0) AS evicted,
       p.hist, p.lo, p.hi, p.pct
FROM per_first p
JOIN per_all a ON a.rig = p.rig AND a.stream = p.stream
LEFT JOIN ev_count c ON c.rig = p.rig AND c.stream = p.stream
LEFT JOIN ev_gap g ON g.rig = p.rig AND g.stream = p.stream
"""


class PostgresStore:
    """Open with ``await PostgresStore.open(url, recorder=...)``."""

    def __init__(self, url: str, pool: asyncpg.Pool, recorder: str | None) -> None:
        self.location = redact_url(url)
        self._pool = pool
        self._recorder = recorder

    @classmethod
    async def open(cls, url: str, *, recorder: str | None = None) -> PostgresStore:
        where = redact_url(url)
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=3, command_timeout=120)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                TimeoutError) as err:
            raise StoreUnavailableError(f"{where}: cannot connect: {err}") from err
        store = cls(url, pool, recorder)
        try:
            await store._migrate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def _migrate(self) -> None:
        known = migrations.POSTGRES[-1].version
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                # one opener at a time: recorders started together must not race the DDL
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                current = await conn.fetchval(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                if current > known:
                    raise StoreSchemaError(current, known, self.location)
                for m in migrations.pending(current, migrations.POSTGRES):
                    for statement in m.statements:
                        await conn.execute(statement)
                    await conn.execute("INSERT INTO schema_migrations (version, description)"
                                       " VALUES ($1, $2)", m.version, m.description)
                    log.info("%s: schema migrated to version %d (%s)", self.location,
                             m.version, m.description)
        except StoreError:
            raise
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            raise StoreUnavailableError(f"{self.location}: migration failed: {err}") from err

    # ------------------------------------------------------------ writing

    async def write(self, batch: Sequence[WriteItem]) -> WriteOutcome:
        for attempt in range(_RETRIES):
            try:
                return await self._write(batch, time.time())
            except asyncpg.TransactionRollbackError as err:  # deadlock, serialization
                if attempt == _RETRIES - 1:
                    raise StoreUnavailableError(f"{self.location}: write failed {_RETRIES} "
                                                f"times: {err}") from err
                log.info("%s: write retried after %s", self.location, err)
                await asyncio.sleep(0.01 * (attempt + 1))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    TimeoutError) as err:
                raise StoreUnavailableError(f"{self.location}: write failed: {err}") from err
        raise AssertionError("unreachable")

    async def _write(self, batch: Sequence[WriteItem], stored_at: float) -> WriteOutcome:
        messages = [i for i in batch if isinstance(i, MessageRow)]
        malformed = [i for i in batch if isinstance(i, MalformedRow)]
        evicted = [i for i in batch if isinstance(i, EvictedRange)]
        first_in_batch: dict[tuple[str, str, int], MessageRow] = {}
        for m in messages:
            if m.accounted:
                first_in_batch.setdefault((m.rig, m.stream, m.seq), m)
        keys = list(first_in_batch.values())
        async with self._pool.acquire() as conn, conn.transaction():
            claimed: set[tuple[str, str, int]] = set()
            if keys:
                rows = await conn.fetch(
                    _CLAIM, [k.rig for k in keys], [k.stream for k in keys],
                    [k.seq for k in keys], [k.boot for k in keys],
                    [k.received_at for k in keys])
                claimed = {(r[0], r[1], r[2]) for r in rows}
            records, duplicates = [], 0
            for m in messages:
                dup = False
                if m.accounted:
                    key = (m.rig, m.stream, m.seq)
                    dup = first_in_batch.get(key) is not m or key not in claimed
                duplicates += dup
                records.append((m.rig, m.stream, m.type, m.boot, m.seq, m.topic,
                                m.received_at, m.t_rig, m.t_mono, m.historical, m.resend, dup,
                                stored_at, self._recorder, m.payload))
            if records:
                await conn.copy_records_to_table("messages", records=records,
                                                 columns=_MESSAGE_COLUMNS)
            if malformed:
                await conn.copy_records_to_table(
                    "malformed", columns=("topic", "received_at", "reason", "payload"),
                    records=[(m.topic, m.received_at, m.reason, m.payload[:4096])
                             for m in malformed])
            if evicted:
                await conn.executemany(
                    "INSERT INTO evicted (rig, stream, first_seq, last_seq, count, noted_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    [(e.rig, e.stream, e.first_seq, e.last_seq, e.count, e.noted_at)
                     for e in evicted])
        return WriteOutcome(len(records), duplicates, len(malformed))

    # ------------------------------------------------------------ reading

    async def rows(self, *, rig: str | None = None, stream: str | None = None,
                   type_: str | None = None) -> AsyncIterator[RecordedRow]:
        sql = ("SELECT rig, stream, type, boot, seq, received_at, t_rig, historical, resend,"
               " duplicate, payload, stored_at FROM messages WHERE true")
        args: list[str] = []
        for column, value in (("rig", rig), ("stream", stream), ("type", type_)):
            if value is not None:
                args.append(value)
                sql += f" AND {column} = ${len(args)}"
        try:
            async with self._pool.acquire() as conn, \
                    conn.transaction(readonly=True, isolation="repeatable_read"):
                async for r in conn.cursor(sql + " ORDER BY id", *args, prefetch=500):
                    yield RecordedRow(*r)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            raise StoreUnavailableError(f"{self.location}: read failed: {err}") from err

    async def _fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        try:
            async with self._pool.acquire() as conn:
                return await conn.fetch(sql, *args)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            raise StoreUnavailableError(f"{self.location}: query failed: {err}") from err

    async def rigs(self) -> list[str]:
        return sorted(r[0] for r in await self._fetch("SELECT DISTINCT rig FROM messages"))

    async def span(self) -> tuple[float | None, float | None, int]:
        first, last, count = (await self._fetch(
            "SELECT min(received_at), max(received_at), count(*) FROM messages"))[0]
        return first, last, count

    async def malformed_count(self) -> int:
        return (await self._fetch("SELECT count(*) FROM malformed"))[0][0]

    async def evicted_ranges(self) -> list[tuple[str, str, int, int]]:
        return [(r[0], r[1], r[2], r[3]) for r in await self._fetch(
            "SELECT rig, stream, first_seq, last_seq FROM evicted")]

    async def summarize(self) -> StoreSummary:
        try:
            async with self._pool.acquire() as conn, \
                    conn.transaction(readonly=True, isolation="repeatable_read"):
                rows = await conn.fetch(_SUMMARY)
                malformed = await conn.fetchval("SELECT count(*) FROM malformed")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            raise StoreUnavailableError(f"{self.location}: report failed: {err}") from err
        streams = []
        for r in sorted(rows, key=lambda r: (r["rig"], r["stream"])):
            pct = [None if p is None else p * 1000.0 for p in (r["pct"] or (None,) * 3)]
            streams.append(StreamReport(
                r["rig"], r["stream"], r["received"], r["uniq"], r["received"] - r["uniq"],
                r["resent_dups"], r["gaps"], r["evicted"], r["hist"], r["lo"], r["hi"], *pct))
        return StoreSummary(streams, malformed)

    # ------------------------------------------------------------ schema and retention

    async def schema_version(self) -> int:
        return (await self._fetch("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
                                  ))[0][0]

    async def retention_s(self) -> float | None:
        rows = await self._fetch("SELECT value FROM settings WHERE key = 'retention_s'")
        return float(rows[0][0]) if rows else None

    async def set_retention_s(self, seconds: float | None) -> None:
        if seconds is None:
            await self._fetch("DELETE FROM settings WHERE key = 'retention_s'")
        else:
            await self._fetch("INSERT INTO settings VALUES ('retention_s', $1) ON CONFLICT (key)"
                              " DO UPDATE SET value = EXCLUDED.value", repr(float(seconds)))

    async def prune(self, now: float) -> int:
        keep = await self.retention_s()
        if keep is None:
            return 0
        cutoff = now - keep
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                # one recorder prunes at a time; the others skip this round
                if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)",
                                           _PRUNE_LOCK):
                    return 0
                n = 0
                for table, column in (("messages", "received_at"), ("malformed", "received_at"),
                                      ("sequence_seen", "received_at"),
                                      ("evicted", "noted_at")):
                    status = await conn.execute(f"DELETE FROM {table} WHERE {column} < $1",
                                                cutoff)
                    if table in ("messages", "malformed"):
                        n += int(status.rsplit(" ", 1)[-1])
                return n
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            raise StoreUnavailableError(f"{self.location}: prune failed: {err}") from err

    async def close(self) -> None:
        await self._pool.close()
