"""Issue #10 item 5: one SQLite file, many processes.

The gRPC server, the web site under gunicorn with two workers and a Celery
worker (drawing the contexts' lineage graphs, with a real Redis) all run on one
SQLite file.  Two gRPC writers and two REST writers put executions into three
contexts while two readers fetch dashboard pages (home, the contexts, an
artifact) and REST lists; every write also makes the worker redraw the
context.  A locked database must never reach a client as gRPC
INTERNAL/UNKNOWN or HTTP 500: it is waited out, or answered as ABORTED / 503
with Retry-After (counted).  Afterwards every acknowledged write is in the file
with its events.

Then another process holds the file's write lock for longer than the servers
wait for it (30 s): a dashboard page that has to write (it queues the
context's drawing) answers 503 with Retry-After instead of 500, while reads
that need no lock are served at once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import ServerProcess, start_server
from tests.reliability.conftest import sqlite_only
from tests.reliability.procs_web import (
    Process,
    Web,
    launch_gunicorn,
    manage,
    site_environment,
    start_celery_worker,
    start_redis,
    stop_redis,
    wait_ready,
    writer_token,
)
from tests.reliability.procs_writers import (
    CONTEXT_TYPE,
    GRPC_BROKEN,
    Tally,
    audit,
    grpc_writer,
    http_request,
    put_types,
    reader,
    rest_writer,
)

pytestmark = [pytest.mark.slow, sqlite_only]

BURST_SECONDS = 8.0
CONTEXTS = ("shared-run-0", "shared-run-1", "shared-run-2")
# Small graphs go to the worker too, and it is told about a change after a second.
GRAPH_ENVIRONMENT = {
    "MLMD_INPROCESS_GRAPH_LIMIT": "5",
    "MLMD_GRAPH_DEBOUNCE_SECONDS": "1",
    "MLMD_GRAPH_HEARTBEAT_SECONDS": "1",
    "MLMD_GRAPH_STALE_SECONDS": "4",
    "MLMD_GRAPH_SWEEP_SECONDS": "2",
}


@dataclass
class SharedFile:
    database: Path
    token: str
    grpc: ServerProcess
    web: Web
    worker: Process

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{text[-3000:]}" for name, text in self.texts().items())

    def texts(self) -> dict[str, str]:
        return {"grpcserver": self.grpc.log(), "gunicorn": self.web.log(), "celery": self.worker.log()}


@pytest.fixture(scope="module")
def shared_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedFile]:
    tmp_path = tmp_path_factory.mktemp("shared-sqlite")
    database = tmp_path / "store.sqlite3"
    redis_dir = tmp_path / "redis"
    redis_url = start_redis(redis_dir)
    env = site_environment(database, {"REDIS_URL": redis_url, "MLMD_ANONYMOUS_READ": "1", **GRAPH_ENVIRONMENT})
    started: list[Process] = []
    grpc_server: ServerProcess | None = None
    try:
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        token = writer_token(env)
        web = launch_gunicorn(env, tmp_path / "gunicorn.log")  # boots while the others start
        started.append(web)
        grpc_server = start_server(tmp_path / "grpc", env=env)
        worker = start_celery_worker(env, tmp_path / "celery.log")
        started.append(worker)
        wait_ready(web)
        yield SharedFile(database, token, grpc_server, web, worker)
    finally:
        if grpc_server is not None:
            grpc_server.terminate()
        for process in started:
            process.stop()
        stop_redis(redis_dir)


def test_processes_sharing_one_sqlite_file_never_answer_internal_or_500(
    shared_file: SharedFile, figure: Callable[[str], None]
) -> None:
    stack = shared_file
    stub = stack.grpc.stub()
    types = put_types(stub)
    seed = Tally()
    for name in CONTEXTS:
        # Each context starts with a few runs, so its page and drawing have something to show.
        grpc_writer(stub, types, threading.Event(), seed, f"seed-{name}", (name,), limit=3)
    assert seed.outcomes == {"gRPC OK": 3 * len(CONTEXTS)}, seed.outcomes
    contexts = stub.GetContextsByType(svc.GetContextsByTypeRequest(type_name=CONTEXT_TYPE), timeout=30).contexts
    assert sorted(c.name for c in contexts) == sorted(CONTEXTS)
    artifact_id = seed.acks[0].artifact_ids[0]
    paths = ["/", f"/artifacts/{artifact_id}/", "/api/v1/executions", "/api/v1/artifacts"]
    for context in contexts:
        paths += [f"/contexts/{context.id}/", f"/api/v1/artifacts?context={context.id}"]

    tally = Tally()
    stop = threading.Event()
    threads = [
        threading.Thread(target=grpc_writer, args=(stack.grpc.stub(), types, stop, tally, f"g{i}", CONTEXTS))
        for i in range(2)
    ] + [
        threading.Thread(target=rest_writer, args=(stack.web.base_url, stack.token, stop, tally, f"r{i}", CONTEXTS))
        for i in range(2)
    ] + [
        threading.Thread(target=reader, args=(stack.web.base_url, stack.token, paths[i::2] + paths, stop, tally))
        for i in range(2)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(BURST_SECONDS)
    stop.set()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - started

    logs = stack.texts()
    assert all(process.alive() for process in (stack.web, stack.worker)) and stack.grpc.process.poll() is None, stack.logs()
    assert tally.problems == [], f"{tally.problems}\n{stack.logs()}"
    assert not any(tally.total(f"gRPC {code}") for code in GRPC_BROKEN | {"UNAVAILABLE"}), tally.outcomes
    unexpected = {
        outcome: n for outcome, n in tally.outcomes.items()
        if outcome not in ("gRPC OK", "gRPC ABORTED", "HTTP 201", "HTTP write 503", "HTTP read 200", "HTTP read 503")
    }
    assert unexpected == {}, f"{unexpected}\n{stack.logs()}"
    assert tally.total("gRPC OK") > 0 and tally.total("HTTP 201") > 0 and tally.total("HTTP read 200") > 0

    result = audit(stack.database, seed.acks + tally.acks)
    assert result.integrity == "ok"
    assert result.missing == [] and result.wrong_events == [] and result.without_events == []
    assert wait_for_drawings(stack.database) > 0, f"the Celery worker drew nothing in 60 s\n{stack.logs()}"
    drawings = wait_for_drawings(stack.database)

    busy = tally.total("gRPC ABORTED") + tally.total("HTTP write 503") + tally.total("HTTP read 503")
    locked = sum(text.count("database is locked") for text in logs.values())
    figure(
        f"grpcserver + gunicorn (2 workers) + Celery worker on one SQLite file, {elapsed:.1f} s: "
        f"{len(tally.acks)} writes acknowledged ({tally.total('gRPC OK')} gRPC, {tally.total('HTTP 201')} REST), "
        f"{tally.total('HTTP read 200')} reads (dashboard + REST lists), {drawings} drawings stored by the worker; "
        f"0 INTERNAL/UNKNOWN, 0 HTTP 500, {busy} busy answers (ABORTED / 503 with Retry-After); "
        f"all acknowledged writes present, integrity_check ok; 'database is locked' in server logs: {locked}; "
        f"slowest answer: " + ", ".join(f"{what} {seconds:.1f} s" for what, seconds in sorted(tally.slowest.items()))
    )


def wait_for_drawings(database: Path, timeout: float = 60.0) -> int:
    """How many drawings the worker has stored, once there is one (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(database, timeout=60)
        try:
            drawings = con.execute("SELECT COUNT(*) FROM store_graphdrawing").fetchone()[0]
        finally:
            con.close()
        if drawings or time.monotonic() > deadline:
            return int(drawings)
        time.sleep(0.2)


def test_a_write_lock_held_past_the_busy_timeout_is_503_on_the_dashboard_not_500(
    shared_file: SharedFile, figure: Callable[[str], None]
) -> None:
    stack = shared_file
    stub = stack.grpc.stub()
    types = put_types(stub)
    seed = Tally()
    grpc_writer(stub, types, threading.Event(), seed, "locked", ("locked-run",), limit=3)
    context = stub.GetContextByTypeAndName(
        svc.GetContextByTypeAndNameRequest(type_name=CONTEXT_TYPE, context_name="locked-run"), timeout=30
    ).context
    page = f"/contexts/{context.id}/"  # never viewed: its first view queues a drawing (a write)

    holder = sqlite3.connect(stack.database, isolation_level=None, timeout=60)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's write transaction that does not end
        began = time.monotonic()
        listed, _, body = http_request(stack.web.base_url, "GET", "/api/v1/executions", stack.token)
        read = stub.GetExecutionsByID(svc.GetExecutionsByIDRequest(execution_ids=[seed.acks[0].execution_id]), timeout=30)
        reads_took = time.monotonic() - began
        began = time.monotonic()
        status, headers, text = http_request(stack.web.base_url, "GET", page)
        page_took = time.monotonic() - began
    finally:
        holder.rollback()
        holder.close()
    assert listed == 200 and json.loads(body)["results"], body[:300]
    assert [e.id for e in read.executions] == [seed.acks[0].execution_id]
    assert status == 503, (status, text[:500])
    assert headers.get("retry-after") == "1"
    released, _, _ = http_request(stack.web.base_url, "GET", page)
    assert released == 200
    figure(
        f"SQLite write lock held by another process past the 30 s busy timeout: REST list and gRPC read served in "
        f"{reads_took:.1f} s; a dashboard page that must write answered 503 Retry-After: 1 after {page_took:.1f} s "
        f"(not 500); 200 once the lock was released"
    )
