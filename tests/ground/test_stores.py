"""Both stores behind one interface: migrations, duplicates, retention, the same report.

The PostgreSQL tests run a real server (fixture in conftest.py): a missing
PostgreSQL fails them.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from telemetry.ground.stores import (
    MessageRow,
    RecordingStore,
    StoreSchemaError,
    StoreUnavailableError,
    open_store,
)
from telemetry.ground.stores.migrations import POSTGRES, SQLITE
from telemetry.ground.summary import ReportBuilder, StoreSummary
from tests.ground.helpers import message, scenario

# The schema of recordings written before stores had migrations (kept verbatim).
_OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    rig TEXT NOT NULL, stream TEXT NOT NULL, type TEXT NOT NULL,
    boot INTEGER NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL,
    received_at REAL NOT NULL, t_rig REAL NOT NULL, t_mono REAL NOT NULL,
    historical INTEGER NOT NULL, resend INTEGER NOT NULL, duplicate INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_stream ON messages (rig, stream, seq);
CREATE TABLE IF NOT EXISTS malformed (
    id INTEGER PRIMARY KEY, topic TEXT NOT NULL, received_at REAL NOT NULL,
    reason TEXT NOT NULL, payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS evicted (
    rig TEXT NOT NULL, stream TEXT NOT NULL, first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, count INTEGER NOT NULL
);
"""


def _comparable(summary: StoreSummary) -> tuple:
    def ms(v: float | None) -> float | None:
        return None if v is None else round(v, 6)

    return summary.malformed, [
        (r.rig, r.stream, r.received, r.unique, r.duplicates, r.resent_duplicates, r.gaps,
         r.evicted, r.historical, r.first_seq, r.last_seq, ms(r.latency_p50_ms),
         ms(r.latency_p95_ms), ms(r.latency_p99_ms)) for r in summary.streams]


async def _write_in_batches(store: RecordingStore, items: list, size: int) -> None:
    for i in range(0, len(items), size):
        await store.write(items[i:i + size])


async def _rows_summary(store: RecordingStore) -> StoreSummary:
    b = ReportBuilder()
    b.malformed = await store.malformed_count()
    for rig, stream, first, last in await store.evicted_ranges():
        b.add_evicted(rig, stream, first, last)
    async for r in store.rows():
        b.add_row(r.rig, r.stream, r.type, r.seq, r.received_at, r.t_rig, r.historical,
                  r.resend)
    return b.finish()


# ------------------------------------------------------------------ SQLite


async def test_sqlite_file_from_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(_OLD_SCHEMA)
    old = message("rig-1", "state", 7)
    db.execute("INSERT INTO messages (rig, stream, type, boot, seq, topic, received_at, t_rig,"
               " t_mono, historical, resend, duplicate, payload) VALUES"
               " (?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (old.rig, old.stream, old.type, old.boot, old.seq, old.topic, old.received_at,
                old.t_rig, old.t_mono, 0, 0, 0, old.payload))
    db.commit()
    db.close()
    store = await open_store(path)
    try:
        assert await store.schema_version() == SQLITE[-1].version == 2
        rows = [r async for r in store.rows()]
        assert [(r.seq, r.stored_at, r.payload) for r in rows] == [(7, None, old.payload)]
        # the old row takes part in duplicate decisions of new writes
        outcome = await store.write([message("rig-1", "state", 7), message("rig-1", "state", 8)])
        assert (outcome.messages, outcome.duplicates) == (2, 1)
    finally:
        await store.close()
    versions = sqlite3.connect(path).execute(
        "SELECT version, description FROM schema_migrations ORDER BY version").fetchall()
    assert versions == [(1, "recording tables"), (2, "commit time, retention setting and index")]


async def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    await (await open_store(path)).close()  # create it at the current version
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)")
    db.commit()
    db.close()
    with pytest.raises(StoreSchemaError, match="schema version 99 is newer than this version "
                                               "of rig-ground knows \\(2\\)"):
        await open_store(path)


async def test_sqlite_reopened_file_still_knows_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = await open_store(path)
    await store.write([message("rig-1", "state", s) for s in range(5)])
    await store.close()
    # a recorder restarted on its file after a crash gets the broker's redeliveries
    store = await open_store(path)
    try:
        outcome = await store.write([message("rig-1", "state", 3), message("rig-1", "state", 5)])
        assert (outcome.messages, outcome.duplicates) == (2, 1)
        flags = [(r.seq, r.duplicate) async for r in store.rows()]
        assert flags[-2:] == [(3, True), (5, False)]
    finally:
        await store.close()


# ------------------------------------------------------------------ both kinds


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return request.getfixturevalue("postgres_url")


async def test_retention_is_a_stored_setting_and_prunes_old_rows(store_target: str) -> None:
    store = await open_store(store_target)
    try:
        assert await store.retention_s() is None
        assert await store.prune(10_000.0) == 0  # keep forever: nothing removed
        await store.write([message("r", "state", 0, received_at=1000.0),
                           message("r", "state", 1, received_at=5000.0)])
        await store.set_retention_s(3600.0)
    finally:
        await store.close()
    store = await open_store(store_target)
    try:
        assert await store.retention_s() == 3600.0
        assert await store.prune(5000.0 + 1800.0) == 1
        assert [r.seq async for r in store.rows()] == [1]
        await store.set_retention_s(None)
        assert await store.retention_s() is None
    finally:
        await store.close()


async def test_rows_are_narrowed_by_rig_stream_and_type(store_target: str) -> None:
    store = await open_store(store_target)
    try:
        await store.write([message("a", "state", 0), message("b", "state", 0),
                           message("a", "ledger", 0, type_="ledger")])
        assert await store.rigs() == ["a", "b"]
        assert [(r.rig, r.type) async for r in store.rows(rig="a")] == [("a", "state"),
                                                                       ("a", "ledger")]
        assert [r.rig async for r in store.rows(type_="ledger")] == ["a"]
        assert [r.rig async for r in store.rows(stream="state", rig="b")] == ["b"]
    finally:
        await store.close()


@pytest.mark.parametrize("seed", range(6))
async def test_postgres_report_in_sql_equals_the_merge_of_sqlite(
        seed: int, tmp_path: Path, postgres_url: str) -> None:
    items = scenario(seed)
    lite = await open_store(tmp_path / "s.db")
    pg = await open_store(postgres_url)
    try:
        await _write_in_batches(lite, items, 17)
        await _write_in_batches(pg, items, 23)
        expected = _comparable(await lite.summarize())
        assert _comparable(await pg.summarize()) == expected
        assert _comparable(await _rows_summary(pg)) == expected
        assert expected[1], "the scenario has streams"
        # duplicates flagged by each store are the rows beyond the first of each number
        for store in (lite, pg):
            dups = [r async for r in store.rows() if r.duplicate]
            assert len(dups) == sum(row[4] for row in expected[1])
    finally:
        await lite.close()
        await pg.close()


# ------------------------------------------------------------------ PostgreSQL only


async def test_concurrent_recorders_store_each_number_once(postgres_url: str) -> None:
    """Writers racing on the same numbers in opposite orders: one unique row per number,
    every other copy flagged duplicate, no deadlock escaping."""
    stores = [await open_store(postgres_url, recorder=f"rec-{i}") for i in range(4)]
    numbers = list(range(400))
    try:
        async def writer(i: int) -> None:
            order = numbers if i % 2 else numbers[::-1]
            for k in range(0, len(order), 50):
                await stores[i].write([message("rig-1", "state", s, received_at=1000.0 + i)
                                       for s in order[k:k + 50]])

        await asyncio.gather(*(writer(i) for i in range(4)))
        summary = await stores[0].summarize()
        (r,) = summary.streams
        assert (r.received, r.unique, r.duplicates, r.gaps) == (1600, 400, 1200, 0)
        unique_rows = [row async for row in stores[0].rows() if not row.duplicate]
        assert sorted(row.seq for row in unique_rows) == numbers
    finally:
        for s in stores:
            await s.close()


async def test_a_wiped_rig_store_starts_a_new_series(postgres_url: str) -> None:
    """Numbers restarting lower in a newer boot are new messages (plots and the ledger
    see them), as the SQLite store's accounting decides."""
    store = await open_store(postgres_url)
    try:
        await store.write([message("r", "state", s, boot=1) for s in range(3)])
        outcome = await store.write([message("r", "state", 0, boot=2),
                                     message("r", "state", 0, boot=2),
                                     message("r", "state", 1, boot=1)])
        assert outcome.duplicates == 2
        flags = [(r.boot, r.seq, r.duplicate) async for r in store.rows()][3:]
        assert flags == [(2, 0, False), (2, 0, True), (1, 1, True)]
    finally:
        await store.close()


async def test_recorders_starting_together_migrate_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(open_store(postgres_url) for _ in range(5)))
    try:
        assert {await s.schema_version() for s in stores} == {POSTGRES[-1].version}
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert [r[0] for r in rows] == [m.version for m in POSTGRES]
            await conn.execute("INSERT INTO schema_migrations (version, description)"
                               " VALUES (42, 'newer')")
        finally:
            await conn.close()
    finally:
        for s in stores:
            await s.close()
    with pytest.raises(StoreSchemaError, match="schema version 42 is newer"):
        await open_store(postgres_url)


async def test_unreachable_database_is_a_clear_error(postgres_cluster) -> None:
    url = f"postgresql://rig:pw@127.0.0.1:{postgres_cluster.port}/no_such_database"
    with pytest.raises(StoreUnavailableError, match=r"rig:\*\*\*@.*cannot connect") as err:
        await open_store(url)
    assert "pw" not in str(err.value).replace("***", "")


async def test_message_row_fields_survive_the_round_trip(postgres_url: str) -> None:
    m = message("rig-9", "batch/load", 2**40, boot=7, historical=True, resend=True,
                type_="batch")
    store = await open_store(postgres_url)
    try:
        await store.write([m])
        (row,) = [r async for r in store.rows()]
    finally:
        await store.close()
    assert isinstance(m, MessageRow)
    assert (row.rig, row.stream, row.type, row.boot, row.seq, row.historical, row.resend,
            row.duplicate, row.payload) == (m.rig, m.stream, "batch", 7, 2**40, True, True,
                                            False, m.payload)
    assert math.isclose(row.received_at, m.received_at) and row.stored_at is not None
