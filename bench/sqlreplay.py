"""Recording the SQL of a store call, and running it again without the store (bench/floor_server.py, bench/write_path.py).

``recording_call`` wraps ``store.services.api.call``: for each call of the
method it records, every statement ``store.services.sql`` runs (with its
parameters) and the answer are kept, and the call fails if anything between
BEGIN and COMMIT went another way (a replay would leave that work out).
``replay`` runs one call's statements in one BEGIN IMMEDIATE ... COMMIT on a
plain sqlite3 connection; ``store_pragmas`` are the store's own connection
pragmas (mlmdsite/env.py), with a sync level of one's choice.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

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


def recording_call(
    recording: Recording, alias: str = "default", inner: Callable[[str, Any], Any] | None = None
) -> Callable[[str, Any], Any]:
    """``inner`` (api.call), keeping every PutExecution's statements on ``alias`` and its answer in ``recording``.

    Installs a recording ``store.services.sql._direct`` for the life of the process;
    it records only inside the returned call.
    """
    from django.db import connections

    from store.services import api, sql

    run = inner if inner is not None else api.call
    local = threading.local()
    plain_direct = sql._direct

    def direct(wrapper: Any) -> Any:
        connection = plain_direct(wrapper)
        log = getattr(local, "log", None)
        return connection if connection is None or log is None else _Recorder(connection, log)

    sql._direct = direct

    def call(method: str, request: Any) -> Any:
        if method != METHOD:
            return run(method, request)
        wrapper = connections[alias]
        wrapper.ensure_connection()
        seen: list[str] = []
        local.log = []
        wrapper.connection.set_trace_callback(seen.append)
        try:
            response = run(method, request)
        finally:
            wrapper.connection.set_trace_callback(None)
            log, local.log = local.log, None
        # Everything between BEGIN and COMMIT must have gone through store.services.sql,
        # or the replay would leave out work the store did.
        if len(seen) != len(log) + 2 or not seen[0].startswith("BEGIN") or seen[-1] != "COMMIT":
            raise RuntimeError(f"{METHOD} ran {len(seen)} statements, {len(log)} of them recorded: {seen}")
        recording.append((log, response.SerializeToString()))
        return response

    return call


def store_pragmas(init_command: str, synchronous: str) -> str:
    """The store's connection pragmas (its ``init_command``), but for the sync per commit."""
    return re.sub(r"synchronous=\w+", f"synchronous={synchronous}", init_command)


def replay(connection: sqlite3.Connection, statements: Sequence[Statement]) -> None:
    """One call's statements in one transaction, on a plain connection (``isolation_level=None``)."""
    connection.execute("BEGIN IMMEDIATE")
    for statement, params in statements:
        connection.execute(statement, params)
    connection.execute("COMMIT")
