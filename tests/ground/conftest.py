"""PostgreSQL for the ground-store tests: one throwaway cluster per session, a fresh
database per test. A missing PostgreSQL FAILS the test (scripts/ensure-postgresql.sh)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgcluster import PostgresCluster, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster()
        cluster.start()
    except PostgresUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """URL of a new, empty database on the session's cluster."""
    return postgres_cluster.create_database()
