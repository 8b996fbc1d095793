"""A Redis restart does not fail metadata writes (issue #10, item 10).

A real ``grpcserver`` with ``REDIS_URL`` set: each write with a context hands
the context's id to the drawing dispatcher, which sends a Celery message to
Redis after the commit (store/services/graph_jobs.py).  Several client
threads send PutExecution calls while Redis is stopped in the middle of the
burst and started again: every call is acknowledged, none waits more than a
few seconds, and every acknowledged execution is in the store afterwards.

tests/graphs/test_acceptance.py covers the drawings' side (they catch up once
Redis is back); this test is about the writes.  The server runs on an SQLite
file of its own whatever the test run's database is, so the test runs once,
in the SQLite pass.
"""
from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import redis

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import ServerProcess, start_server
from tests.reliability.conftest import sqlite_only

ROOT = Path(__file__).resolve().parents[2]
THREADS = 4
CALLS_PER_PHASE = 60  # acknowledged calls before the stop, while Redis is down, after the start
MAX_CALL_SECONDS = 5.0  # "a few seconds": a write never waits on Redis's timeouts (socket_timeout 5 s, retries)

pytestmark = [pytest.mark.slow, sqlite_only]


def _redis(command: str, directory: Path) -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "redis.sh"), command, "--dir", str(directory)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, f"scripts/redis.sh {command} failed:\n{done.stderr}"
    return done.stdout.strip()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    directory = tmp_path / "redis"
    url = _redis("start", directory)
    try:
        yield url
    finally:
        _redis("stop", directory)


@pytest.fixture
def server(tmp_path: Path, redis_url: str) -> Iterator[ServerProcess]:
    process = start_server(tmp_path / "server", env={"REDIS_URL": redis_url})
    try:
        yield process
    finally:
        process.terminate()


@dataclass
class Burst:
    """What the client threads saw."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    execution_ids: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    slowest: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def acknowledged(self) -> int:
        with self.lock:
            return len(self.execution_ids)


def _writer(server: ServerProcess, types: tuple[int, int, int], number: int, burst: Burst) -> None:
    stub = server.stub()
    artifact_type_id, execution_type_id, context_type_id = types
    serial = 0
    while not burst.stop.is_set():
        serial += 1
        request = svc.PutExecutionRequest(
            execution=pb.Execution(type_id=execution_type_id, name=f"run-{number}-{serial}"),
            contexts=[pb.Context(type_id=context_type_id, name=f"pipeline-{number}")],
        )
        request.options.reuse_context_if_already_exist = True
        request.artifact_event_pairs.add(
            artifact=pb.Artifact(type_id=artifact_type_id, uri=f"s3://out/{number}/{serial}"),
            event=pb.Event(type=pb.Event.OUTPUT),
        )
        started = time.monotonic()
        try:
            response = stub.PutExecution(request, timeout=30)
        except grpc.RpcError as exc:
            with burst.lock:
                burst.failures.append(f"{exc.code().name}: {exc.details()}")
            continue
        elapsed = time.monotonic() - started
        with burst.lock:
            burst.execution_ids.append(response.execution_id)
            burst.slowest = max(burst.slowest, elapsed)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_redis_restart_mid_burst_fails_no_write(
    server: ServerProcess, redis_url: str, tmp_path: Path, figure: Callable[[str], None]
) -> None:
    stub = server.stub()
    types = (
        stub.PutArtifactType(svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name="Model"))).type_id,
        stub.PutExecutionType(svc.PutExecutionTypeRequest(execution_type=pb.ExecutionType(name="Trainer"))).type_id,
        stub.PutContextType(svc.PutContextTypeRequest(context_type=pb.ContextType(name="Pipeline"))).type_id,
    )
    broker = redis.Redis.from_url(redis_url, socket_timeout=2)
    burst = Burst()
    threads = [threading.Thread(target=_writer, args=(server, types, n, burst)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: burst.acknowledged() >= CALLS_PER_PHASE, "the first calls")
        # The writes really reach Redis: the dispatcher has sent messages.
        _wait_for(lambda: broker.dbsize() > 0, "a message in Redis")
        broker.close()
        _redis("stop", tmp_path / "redis")
        stopped_at = burst.acknowledged()
        _wait_for(lambda: burst.acknowledged() >= stopped_at + CALLS_PER_PHASE, "calls while Redis is down")
        server.wait_for_log("could not send drawing jobs to Redis")
        _redis("start", tmp_path / "redis")  # the same port, empty
        started_at = burst.acknowledged()
        _wait_for(lambda: burst.acknowledged() >= started_at + CALLS_PER_PHASE, "calls after Redis is back")
    finally:
        burst.stop.set()
        for thread in threads:
            thread.join(60)

    assert not burst.failures, burst.failures[:5]
    assert burst.slowest < MAX_CALL_SECONDS, f"a write waited {burst.slowest:.1f} s"
    ids = burst.execution_ids
    assert len(set(ids)) == len(ids)
    stored = stub.GetExecutionsByID(svc.GetExecutionsByIDRequest(execution_ids=ids), timeout=60).executions
    assert sorted(e.id for e in stored) == sorted(ids), "an acknowledged execution is missing"
    figure(
        f"{THREADS} writers x PutExecution, Redis stopped after {stopped_at} and started after {started_at}: "
        f"{len(ids)} acknowledged, 0 failed, all stored, slowest call {burst.slowest * 1000:.0f} ms"
    )
