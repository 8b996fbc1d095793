"""bench/floor.py's gRPC server: ours, whose PutExecution is recorded, or replayed as bare SQL.

Not a product server, and not a test: started by bench/floor.py in the site's
venv, from the repo root.

    .venv/bin/python bench/floor_server.py MODE DATABASE_FILE RECORDING [--synchronous FULL|NORMAL]

MODE:
  record       the store's own server (the code `manage.py grpcserver` runs); for every
               PutExecution it also keeps the statements its transaction ran, with their
               parameters, and its answer, and writes them to RECORDING when stopped (SIGTERM)
  sql-only     every other method as in record; PutExecution runs the recorded statements
               of the next call, in order, in one BEGIN IMMEDIATE ... COMMIT on a plain
               sqlite3 connection (the store's pragmas, with ``--synchronous``), and sends the
               recorded answer: no request-to-row work, no checks, no Django
  answer-only  PutExecution sends the recorded answer and runs no SQL

The replay is faithful only on a fresh database that sees the same calls in the
same order as the recording's, so the ids the statements name are the same;
bench/floor.py runs it that way.
"""
from __future__ import annotations

import argparse
import os
import pickle
import re
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
METHOD = "PutExecution"
Statement = tuple[str, tuple[Any, ...]]
Recording = list[tuple[list[Statement], bytes]]


class _Recorder:
    """The sqlite3 connection as store.services.sql sees it, keeping each statement it runs."""

    def __init__(self, connection: sqlite3.Connection, log: list[Statement]) -> None:
        self._connection = connection
        self._log = log

    def execute(self, statement: str, params: Any = ()) -> sqlite3.Cursor:
        self._log.append((statement, tuple(params)))
        return self._connection.execute(statement, params)


def recording_call(recording: Recording) -> Any:
    """api.call, keeping every PutExecution's statements and answer in ``recording``."""
    from django.db import connections

    from store.services import api, sql

    local = threading.local()
    plain_direct = sql._direct

    def direct(wrapper: Any) -> Any:
        connection = plain_direct(wrapper)
        log = getattr(local, "log", None)
        return connection if connection is None or log is None else _Recorder(connection, log)

    sql._direct = direct

    def call(method: str, request: Any) -> Any:
        if method != METHOD:
            return api.call(method, request)
        wrapper = connections["default"]
        wrapper.ensure_connection()
        seen: list[str] = []
        local.log = []
        wrapper.connection.set_trace_callback(seen.append)
        try:
            response = api.call(method, request)
        finally:
            wrapper.connection.set_trace_callback(None)
            log, local.log = local.log, None
        # Everything between BEGIN and COMMIT must have gone through store.services.sql,
        # or the replay would leave out work the store did.
        if len(seen) != len(log) + 2 or not seen[0].startswith("BEGIN") or seen[-1] != "COMMIT":
            raise RuntimeError(f"PutExecution ran {len(seen)} statements, {len(log)} of them recorded: {seen}")
        recording.append((log, response.SerializeToString()))
        return response

    return call


def replaying_call(recording: Recording, database: str, synchronous: str, run_sql: bool) -> Any:
    """api.call, but PutExecution answers from ``recording`` (running its statements when ``run_sql``)."""
    from django.conf import settings

    from store.proto import metadata_store_service_pb2 as svc
    from store.services import api

    calls = iter(recording)
    lock = threading.Lock()
    local = threading.local()
    # The store's own pragmas (mlmdsite/env.py), but for the sync per commit.
    pragmas = re.sub(
        r"synchronous=\w+", f"synchronous={synchronous}", settings.DATABASES["default"]["OPTIONS"]["init_command"]
    )

    def connection() -> sqlite3.Connection:
        if getattr(local, "connection", None) is None:
            local.connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            local.connection.executescript(pragmas)
        return local.connection

    def call(method: str, request: Any) -> Any:
        if method != METHOD:
            return api.call(method, request)
        with lock:
            statements, answer = next(calls)
        if run_sql:
            db = connection()
            db.execute("BEGIN IMMEDIATE")
            for statement, params in statements:
                db.execute(statement, params)
            db.execute("COMMIT")
        return svc.PutExecutionResponse.FromString(answer)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("record", "sql-only", "answer-only"))
    parser.add_argument("database", type=Path)
    parser.add_argument("recording", type=Path)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="sql-only's sync per commit")
    parser.add_argument("--cpus", help="keep the server's threads on these CPUs, as grpcserver --cpus")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ["DATABASE_URL"] = f"sqlite:///{args.database.resolve()}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmdsite.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from store.grpc.affinity import parse_cpu_list, pin_process
    from store.grpc.server import ServerOptions, build_server

    call_command("migrate", verbosity=0)
    recording: Recording = []
    if args.mode == "record":
        call = recording_call(recording)
    else:
        with args.recording.open("rb") as file:
            recording = pickle.load(file)
        call = replaying_call(recording, str(args.database.resolve()), args.synchronous, args.mode == "sql-only")
    if args.cpus:
        pin_process(parse_cpu_list(args.cpus))
    server = build_server(ServerOptions(host="127.0.0.1", port=0), call=call)
    server.start()
    # The line bench/run.py's Server waits for, as `manage.py grpcserver` logs it.
    print(f"Serving ml_metadata.MetadataStoreService on 127.0.0.1:{server.port} (floor server, {args.mode})", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    server.stop(10)
    if args.mode == "record":
        with args.recording.open("wb") as file:
            pickle.dump(recording, file)


if __name__ == "__main__":
    main()
