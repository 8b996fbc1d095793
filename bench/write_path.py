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
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
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
        counted.put_executions()
        _busy, frames, _done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    import store

    print(f"store: {Path(store.__file__).resolve().parent.parent}")
    print(f"{args.calls} put_execution calls, in-process, SQLite file (synchronous from MLMD_SQLITE_SYNCHRONOUS, default FULL)")
    print(f"  WAL pages appended per call: {frames / args.calls:.1f}")
    print(f"  wall per call: {wall / args.calls * 1000:.2f} ms")
    print(f"  CPU per call:  {cpu / args.calls * 1000:.2f} ms")


if __name__ == "__main__":
    main()
