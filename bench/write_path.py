"""The write path of one put_execution, in-process on an SQLite file: WAL pages, time and CPU per call.

Not a test: it prints figures.  From the repo root:

    .venv/bin/python bench/write_path.py [--calls 1500] [--ours-root CHECKOUT]

The calls are bench/workload.py's put_execution phase (2 input datasets, a new
model with 4 properties, an execution with 4 properties, one context per 50).
WAL pages per call is exact, and the figure to compare between checkouts: the
WAL is emptied, automatic checkpoints are turned off, and after the calls
``PRAGMA wal_checkpoint`` reports how many pages their commits appended.  Time
and CPU per call come from a separate pass with SQLite's default checkpoints
(a growing WAL slows every read), so they include the checkpoints' share; on a
shared machine they move by tens of percent from run to run, the page count
does not.

Then the statements the calls ran (recorded in the page-counting pass) are
replayed on fresh stores set up alike: once on a plain sqlite3 connection
(BEGIN IMMEDIATE ... COMMIT, the store's pragmas) and once through Django's
connection in ``transaction.atomic``.  Wall per call of each, beside ours, says
what our code costs beyond its SQL and commit (that figure includes the
in-process MetadataStore and the workload's building of its requests).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _raw_connection(path: str) -> Any:
    """The sqlite3 connection Django opened on ``path`` for this thread."""
    from django.db import connections

    for wrapper in connections.all():
        if wrapper.vendor == "sqlite" and path in str(wrapper.settings_dict["NAME"]):
            wrapper.ensure_connection()
            return wrapper.connection
    raise RuntimeError(f"no connection open on {path}")


def _store(path: str, artifacts: int, calls: int) -> Any:
    from bench import workload

    mlmd, pb = workload._import_api("ours")
    store = workload.open_store(mlmd, pb, argparse.Namespace(store="ours-sqlite", db=path, host=None, port=None))
    work = workload.Workload(mlmd, pb, store, artifacts=artifacts, executions=calls, long_chain=0)
    work.register_types()
    work.put_artifacts()
    return work


@contextlib.contextmanager
def _recording(alias: str) -> Iterator[list[list[Any]]]:
    """The statements of each put_execution on ``alias`` (bench/sqlreplay.py), a list per call."""
    from bench.sqlreplay import recording_call
    from store.services import api, sql

    recording: list[Any] = []
    plain_direct, plain_call = sql._direct, api.call
    api.call = recording_call(recording, alias, inner=plain_call)
    transactions: list[list[Any]] = []
    try:
        yield transactions
    finally:
        sql._direct, api.call = plain_direct, plain_call
        transactions.extend(statements for statements, _answer in recording)


def _row_counts(connection: Any) -> tuple[int, ...]:
    return tuple(
        connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("store_execution", "store_artifact", "store_executionproperty", "store_event", "store_attribution")
    )


def _sqlite_path(work: Any) -> str:
    from django.db import connections

    return str(connections[work.store._backend.alias].settings_dict["NAME"]).partition("?")[0].removeprefix("file:")


def _replay_plain(work: Any, transactions: list[list[Any]]) -> tuple[float, tuple[int, ...]]:
    """The statements on a plain sqlite3 connection with the store's pragmas; (seconds, row counts)."""
    from django.db import connections

    from bench.sqlreplay import replay, store_pragmas

    settings = connections[work.store._backend.alias].settings_dict
    connection = sqlite3.connect(_sqlite_path(work), isolation_level=None)
    connection.executescript(store_pragmas(settings["OPTIONS"]["init_command"], "FULL"))
    started = time.perf_counter()
    for statements in transactions:
        replay(connection, statements)
    elapsed = time.perf_counter() - started
    counts = _row_counts(connection)
    connection.close()
    return elapsed, counts


def _replay_django(work: Any, transactions: list[list[Any]]) -> tuple[float, tuple[int, ...]]:
    """The statements through the store's Django connection, a transaction.atomic each; (seconds, row counts)."""
    from django.db import transaction

    from store.db import using
    from store.services import sql

    alias = work.store._backend.alias
    started = time.perf_counter()
    with using(alias):
        for statements in transactions:
            with transaction.atomic(using=alias):
                for statement, params in statements:
                    sql.fetchall(statement.replace("?", "%s"), params)
    elapsed = time.perf_counter() - started
    return elapsed, _row_counts(_raw_connection(_sqlite_path(work)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1500, help="put_execution calls per pass")
    parser.add_argument("--artifacts", type=int, default=1000, help="datasets the executions read")
    parser.add_argument("--ours-root", type=Path, help="measure another checkout of the store")
    args = parser.parse_args()
    if args.ours_root:
        os.environ["MLMD_BENCH_OURS_ROOT"] = str(args.ours_root.resolve())

    with tempfile.TemporaryDirectory(prefix="mlmd-write-path-") as tmp:
        # Pass 1: time and CPU, SQLite's default checkpoints.
        timed = _store(str(Path(tmp) / "timed.sqlite3"), args.artifacts, args.calls)
        wall, cpu = time.perf_counter(), time.process_time()
        timed.put_executions()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

        # Pass 2: pages, on a second store, with every commit kept in the WAL.
        path = str(Path(tmp) / "pages.sqlite3")
        counted = _store(path, args.artifacts, args.calls)
        raw = _raw_connection(path)
        raw.execute("PRAGMA wal_autocheckpoint = 0")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with _recording(counted.store._backend.alias) as transactions:
            counted.put_executions()
        _busy, frames, _done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        expected = _row_counts(raw)

        # Passes 3 and 4: the recorded statements again, without our code around them.
        plain = _replay_plain(_store(str(Path(tmp) / "plain.sqlite3"), args.artifacts, args.calls), transactions)
        django = _replay_django(_store(str(Path(tmp) / "django.sqlite3"), args.artifacts, args.calls), transactions)
        for replayed in (plain, django):
            if replayed[1] != expected:
                raise SystemExit(f"a replay stored {replayed[1]} rows, the calls {expected}: the recording missed statements")

    import store

    print(f"store: {Path(store.__file__).resolve().parent.parent}")
    print(f"{args.calls} put_execution calls, in-process, SQLite file (synchronous from MLMD_SQLITE_SYNCHRONOUS, default FULL)")
    print(f"  WAL pages appended per call: {frames / args.calls:.1f}")
    print(f"  wall per call: {wall / args.calls * 1000:.2f} ms")
    print(f"  CPU per call:  {cpu / args.calls * 1000:.2f} ms")
    print(f"their {sum(len(t) for t in transactions) / args.calls:.1f} statements per call replayed, wall per call:")
    print(f"  on a plain sqlite3 connection:           {plain[0] / args.calls * 1000:.2f} ms")
    print(f"  through Django's transaction.atomic:     {django[0] / args.calls * 1000:.2f} ms")
    print(f"  ours beyond the replay through Django:   {(wall - django[0]) / args.calls * 1000:.2f} ms")


if __name__ == "__main__":
    main()
