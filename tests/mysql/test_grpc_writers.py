"""Issue #10 items 1 and 2 on MariaDB: ml-metadata clients through a real gRPC server.

The same writers and checks as ``tests/reliability/test_concurrent_writers.py``
and ``tests/reliability/test_same_key_races.py`` (see
``tests.reliability.mlmd_clients``), with ``manage.py grpcserver`` serving this
session's MariaDB test database: 16 writers x 250 distinct put_execution, and
16 writers x 50 rounds of each same-key race.  On MariaDB, unlike SQLite,
racing writers can all pass the existence check before one inserts, so the
store's unique keys and its retry decide the winner.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.grpc.servers import ServerProcess
from tests.mysql.conftest import MYSQL, empty_store_tables
from tests.reliability import conftest as reliability
from tests.reliability.mlmd_clients.harness import (
    RaceChecks,
    Races,
    distinct_writes,
    run_races,
    serving,
)

WRITERS = 16
CALLS = 250
ROUNDS = 50

pytestmark = pytest.mark.slow
# The reliability tests' fixture that prints each figure (that conftest does not reach this folder).
figure = reliability.figure


def mysql_query(sql: str) -> Sequence[tuple[Any, ...]]:
    with connections[MYSQL].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def grpc_server(tmp_dir: Path, url: str) -> AbstractContextManager[ServerProcess]:
    """A grpcserver on the test database (already migrated by ``mysql_url``)."""
    return serving(tmp_dir, env={"DATABASE_URL": url})


def test_sixteen_client_writers_lose_nothing_and_duplicate_nothing(
    mysql_db: str, mysql_url: str, tmp_path: Path, figure: Callable[[str], None]
) -> None:
    with grpc_server(tmp_path / "server", mysql_url) as server:
        distinct_writes(server, WRITERS, CALLS, tmp_path / "writers", mysql_query, figure)


@pytest.fixture(scope="module")
def races(mysql_url: str, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Races]:
    """Every race phase, run once by one set of writer processes, then the tables emptied."""
    tmp_dir = tmp_path_factory.mktemp("mysql-races")
    with django_db_blocker.unblock():
        try:
            with grpc_server(tmp_dir / "server", mysql_url) as server:
                found = run_races(server, WRITERS, ROUNDS, tmp_dir / "writers", mysql_query)
        finally:
            empty_store_tables()
    yield found


class TestSameKeyRacesOnMariaDB(RaceChecks):
    """16 writers x 50 rounds per kind of key (see ``RaceChecks``)."""
