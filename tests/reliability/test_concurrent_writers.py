"""Issue #10 item 1: concurrent distinct writes through a real gRPC server, on SQLite.

The writers are processes running the real ml-metadata 1.17.1 client (which
retries ABORTED itself), against ``manage.py grpcserver`` on its own SQLite
file, released together.  Every acknowledged id must be stored exactly once,
nothing else stored, and no call may fail after the client's retries: on
SQLite the server must queue the writers behind its write lock, never let
"database is locked" reach a client.  The MariaDB row (16 writers) is in
``tests/mysql/test_grpc_writers.py``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import sqlite_only
from tests.reliability.mlmd_clients.harness import distinct_writes, serving, sqlite_query

WRITERS = 8
CALLS = 250


@pytest.mark.slow
@sqlite_only
def test_eight_client_writers_lose_nothing_and_duplicate_nothing(
    tmp_path: Path, figure: Callable[[str], None]
) -> None:
    with serving(tmp_path / "server") as server:
        distinct_writes(server, WRITERS, CALLS, tmp_path / "writers", sqlite_query(server), figure)
