"""Issue #10 item 2: same-key races through a real gRPC server, on SQLite.

16 processes running the real ml-metadata 1.17.1 client are released together
(a start line on each one's stdin) for every round, each round with a fresh
key, against ``manage.py grpcserver`` on its own SQLite file:

- a new context name in put_execution, an artifact external_id in
  put_execution, a new type name+version (each writer's definition differs):
  exactly one writer succeeds, the others get ALREADY_EXISTS, and a losing
  call leaves no row behind;
- a new context name with ``reuse_context_if_already_exist``: every writer
  succeeds and they all get the one context.

Never INTERNAL or UNKNOWN.  The MariaDB rows are in
``tests/mysql/test_grpc_writers.py``.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.conftest import sqlite_only
from tests.reliability.mlmd_clients.harness import (
    RaceChecks,
    Races,
    run_races,
    serving,
    sqlite_query,
)

WRITERS = 16
ROUNDS = 50

pytestmark = [sqlite_only, pytest.mark.slow]


@pytest.fixture(scope="module")
def races(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Races]:
    """Every phase, run once by one set of writer processes against one server."""
    tmp_dir = tmp_path_factory.mktemp("races")
    with serving(tmp_dir / "server") as server:
        found = run_races(server, WRITERS, ROUNDS, tmp_dir / "writers", sqlite_query(server))
    yield found


class TestSameKeyRacesOnSQLite(RaceChecks):
    """16 writers x 50 rounds per kind of key (see ``RaceChecks``)."""
