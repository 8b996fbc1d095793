"""Issue #10 item 11 on MariaDB: four gRPC servers started at once on one empty database.

Each ``manage.py grpcserver`` migrates its database at start-up.  Started
together on a fresh database, they must not run the migrations side by side
(MariaDB answers "table already exists" to the losers): all four end up
serving one store, the migrations applied by one of them and recorded once
each, and every server stops cleanly.  The SQLite counterpart is
tests/reliability/test_migrate_on_start.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from mlmdsite.env import database_from_url
from tests.mysql.conftest import _register, _server_url, _unregister, _with_database
from tests.reliability.conftest import figure  # noqa: F401 -- the figure fixture of the reliability tests
from tests.reliability.procs_migrate import (
    check_all_serve_one_store,
    check_recorded_once,
    start_at_once,
    stop_all,
)
from tests.reliability.procs_web import site_environment

SERVERS = 4
ADMIN = "mysql_migrate_admin"
FRESH = "mysql_migrate_fresh"


@pytest.fixture
def empty_database(django_db_blocker: Any) -> Iterator[str]:
    """The URL of a new, empty database on the MariaDB server (dropped afterwards)."""
    server = _server_url()
    name = f"test_mlmd_migrate_{os.getpid()}"
    admin = database_from_url(server)
    admin["NAME"] = ""
    with django_db_blocker.unblock():
        _register(ADMIN, admin)
        try:
            with connections[ADMIN].cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            url = _with_database(server, name)
            _register(FRESH, database_from_url(url))
            yield url
        finally:
            _unregister(FRESH)
            with connections[ADMIN].cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            _unregister(ADMIN)


def test_servers_started_together_on_an_empty_database_migrate_it_once(
    empty_database: str, tmp_path: Path, figure: Callable[[str], None]  # noqa: F811
) -> None:
    env = site_environment(tmp_path / "unused.sqlite3", {"DATABASE_URL": empty_database})
    race = start_at_once(tmp_path, env, SERVERS)
    try:
        check_all_serve_one_store(race)
        assert race.migrated == 1, race.logs()
    finally:
        exits = stop_all(race.servers)
    assert exits == [0] * SERVERS, race.logs()

    with connections[FRESH].cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations")
        rows = [(app, name) for app, name in cursor.fetchall()]
        tables = set(connections[FRESH].introspection.table_names(cursor))
    check_recorded_once(rows)
    assert {"store_type", "store_artifact", "store_execution", "store_context", "store_event"} <= tables
    figure(
        f"{SERVERS} grpcservers started at once on an empty MariaDB database: all serving in {race.seconds:.1f} s, "
        f"migrations applied by {race.migrated}, {len(rows)} migrations recorded once each, 0 crashed, all exited 0"
    )
