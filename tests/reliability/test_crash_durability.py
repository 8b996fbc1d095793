"""Issue #10 item 4: crash durability.

The gRPC server (``manage.py grpcserver``) and the web site (``gunicorn
mlmdsite.wsgi --workers 2``) share one SQLite file.  Four clients write at once
(two through gRPC ``PutExecution``, two through ``POST
/api/v1/executions/record``), each execution with two output artifacts and
their events, remembering every write that was acknowledged.  In the middle of
the burst both servers get SIGKILL (the web one with its workers); then the
file is opened as after a crash and must hold every acknowledged execution with
exactly its events, no execution without events, and pass ``PRAGMA
integrity_check``.  Both servers are started again on the same file and the
cycle repeats, ten times; a last server start serves every acknowledged write
back through gRPC.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import ServerProcess, start_server
from tests.reliability.conftest import sqlite_only
from tests.reliability.procs_web import launch_gunicorn, manage, site_environment, wait_ready, writer_token
from tests.reliability.procs_writers import (
    GRPC_BROKEN,
    Tally,
    audit,
    grpc_writer,
    put_types,
    rest_writer,
)

pytestmark = [pytest.mark.slow, sqlite_only]

CYCLES = 10
BURST_SECONDS = (0.5, 1.5)  # each cycle kills at a random moment this long after the first writes


def test_kill_9_mid_burst_keeps_every_acknowledged_write(tmp_path: Path, figure: Callable[[str], None]) -> None:
    database = tmp_path / "store.sqlite3"
    env = site_environment(database)
    rng = random.Random(4)
    tally = Tally()
    types = None
    started = time.monotonic()
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    token = writer_token(env)
    for cycle in range(CYCLES):
        web = launch_gunicorn(env, tmp_path / "gunicorn.log")  # boots while the gRPC server starts
        grpc_server: ServerProcess | None = None
        stop = threading.Event()
        threads: list[threading.Thread] = []
        before = {"grpc": tally.total("gRPC OK"), "rest": tally.total("HTTP 201")}
        try:
            grpc_server = start_server(tmp_path / f"grpc-{cycle}", env=env)
            wait_ready(web)
            if types is None:
                types = put_types(grpc_server.stub())
            threads = [
                threading.Thread(target=grpc_writer, args=(grpc_server.stub(), types, stop, tally, f"g{cycle}.{i}"))
                for i in range(2)
            ] + [
                threading.Thread(target=rest_writer, args=(web.base_url, token, stop, tally, f"r{cycle}.{i}"))
                for i in range(2)
            ]
            for thread in threads:
                thread.start()
            # Kill only once both ways in have had a write acknowledged in this cycle, at a random moment after.
            deadline = time.monotonic() + 60
            while tally.total("gRPC OK") == before["grpc"] or tally.total("HTTP 201") == before["rest"]:
                assert time.monotonic() < deadline, f"cycle {cycle}: no write acknowledged in 60 s: {tally.outcomes}"
                time.sleep(0.01)
            time.sleep(rng.uniform(*BURST_SECONDS))
        finally:
            if grpc_server is not None:
                grpc_server.process.kill()
                grpc_server.process.wait()
            web.kill()
            stop.set()
            for thread in threads:
                thread.join(60)
            for channel in grpc_server.channels if grpc_server is not None else []:
                channel.close()
        after_crash = audit(database, tally.acks)
        assert after_crash.integrity == "ok", f"cycle {cycle}: integrity_check: {after_crash.integrity}"
        assert after_crash.missing == [], f"cycle {cycle}: acknowledged executions lost: {after_crash.missing[:20]}"
        assert after_crash.wrong_events == [], f"cycle {cycle}: events differ: {after_crash.wrong_events[:20]}"
        assert after_crash.without_events == [], f"cycle {cycle}: executions without events: {after_crash.without_events[:20]}"

    assert tally.problems == [], tally.problems  # no INTERNAL/UNKNOWN, no 500 before a kill

    # Restarted on the same file, the server serves every acknowledged write with its events.
    grpc_server = start_server(tmp_path / "grpc-final", env=env)
    try:
        stub = grpc_server.stub()
        ids = [ack.execution_id for ack in tally.acks]
        served: set[int] = set()
        events: dict[int, set[int]] = {}
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            answer = stub.GetExecutionsByID(svc.GetExecutionsByIDRequest(execution_ids=batch), timeout=60)
            served.update(execution.id for execution in answer.executions)
            for event in stub.GetEventsByExecutionIDs(
                svc.GetEventsByExecutionIDsRequest(execution_ids=batch), timeout=60
            ).events:
                events.setdefault(event.execution_id, set()).add(event.artifact_id)
        assert served == set(ids)
        assert all(events.get(ack.execution_id) == set(ack.artifact_ids) for ack in tally.acks)
    finally:
        assert grpc_server.terminate() == 0

    final = audit(database, tally.acks)
    in_flight = sum(n for outcome, n in tally.outcomes.items() if outcome not in ("gRPC OK", "HTTP 201"))
    busy = tally.total("gRPC ABORTED") + tally.total("HTTP write 503")
    assert not any(tally.total(f"gRPC {code}") for code in GRPC_BROKEN)
    figure(
        f"{CYCLES} kill -9 cycles of gRPC server + gunicorn (2 workers) mid-burst, 2 gRPC + 2 REST writers: "
        f"{len(tally.acks)} acknowledged ({tally.total('gRPC OK')} gRPC, {tally.total('HTTP 201')} REST), "
        f"0 lost, 0 without events, integrity_check ok after every kill; {final.executions} executions in the file "
        f"({final.executions - len(tally.acks)} committed but unacknowledged), {in_flight} calls cut by the kills, "
        f"{busy} busy answers; {time.monotonic() - started:.1f} s"
    )
