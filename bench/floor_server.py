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
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlreplay import METHOD, Recording, recording_call, replay, store_pragmas  # noqa: E402


def replaying_call(recording: Recording, database: str, synchronous: str, run_sql: bool) -> Any:
    """api.call, but PutExecution answers from ``recording`` (running its statements when ``run_sql``)."""
    from django.conf import settings

    from store.proto import metadata_store_service_pb2 as svc
    from store.services import api

    calls = iter(recording)
    lock = threading.Lock()
    local = threading.local()
    pragmas = store_pragmas(settings.DATABASES["default"]["OPTIONS"]["init_command"], synchronous)

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
            replay(connection(), statements)
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
