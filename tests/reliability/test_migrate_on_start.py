"""Issue #10 item 11: four gRPC servers started at once on one empty SQLite file.

Each ``manage.py grpcserver`` migrates its database at start-up.  Started
together, they must not run the migrations side by side (SQLite answers
"table already exists" to the losers): all four must end up serving one
store, the migrations applied by one of them and recorded once each, and every
server must stop cleanly.  The MariaDB counterpart is tests/mysql/test_migrate_on_start.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.reliability.conftest import sqlite_only
from tests.reliability.procs_migrate import (
    check_all_serve_one_store,
    check_recorded_once,
    start_at_once,
    stop_all,
)
from tests.reliability.procs_web import site_environment

SERVERS = 4


# The servers use their own file, whatever the default database: one pass of the test command is enough.
@sqlite_only
def test_servers_started_together_on_an_empty_sqlite_file_migrate_it_once(
    tmp_path: Path, figure: Callable[[str], None]
) -> None:
    database = tmp_path / "store.sqlite3"
    assert not database.exists()
    race = start_at_once(tmp_path, site_environment(database), SERVERS)
    try:
        check_all_serve_one_store(race)
        assert race.migrated == 1, race.logs()
    finally:
        exits = stop_all(race.servers)
    assert exits == [0] * SERVERS, race.logs()

    with sqlite3.connect(database) as con:
        rows = [(app, name) for app, name in con.execute("SELECT app, name FROM django_migrations")]
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    check_recorded_once(rows)
    assert {"store_type", "store_artifact", "store_execution", "store_context", "store_event"} <= tables
    assert integrity == "ok"
    figure(
        f"{SERVERS} grpcservers started at once on an empty SQLite file: all serving in {race.seconds:.1f} s, "
        f"migrations applied by {race.migrated}, {len(rows)} migrations recorded once each, 0 crashed, all exited 0"
    )
