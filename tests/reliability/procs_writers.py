"""Clients of the reliability tests: writers through gRPC and REST that remember
every write the store acknowledged, readers of the dashboard and the REST lists,
and an audit of the SQLite file the writes went to.

A write counts as acknowledged once its answer reached the client (gRPC OK,
HTTP 201): from then on it must survive anything short of losing the disk.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.proto import metadata_store_service_pb2_grpc as service_grpc

EXECUTION_TYPE = "ReliabilityRun"
ARTIFACT_TYPE = "ReliabilityModel"
CONTEXT_TYPE = "ReliabilityPipeline"
# Statuses that mean "busy, retry": allowed, counted.  Anything else that is not a success is not.
GRPC_BUSY = {"ABORTED"}
GRPC_BROKEN = {"INTERNAL", "UNKNOWN"}


@dataclass(frozen=True)
class Ack:
    """An acknowledged write: the execution and the artifacts it output."""

    via: str
    execution_id: int
    artifact_ids: tuple[int, ...]


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    acks: list[Ack] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    slowest: dict[str, float] = field(default_factory=dict)  # longest answer per way in, seconds
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, what: str, seconds: float) -> None:
        with self.lock:
            self.slowest[what] = max(seconds, self.slowest.get(what, 0.0))

    def ack(self, ack: Ack, outcome: str) -> None:
        with self.lock:
            self.acks.append(ack)
            self.outcomes[outcome] += 1

    def count(self, outcome: str, problem: str | None = None) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            if problem is not None and len(self.problems) < 20:
                self.problems.append(problem)

    def total(self, prefix: str) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.startswith(prefix))


@dataclass(frozen=True)
class StoreTypes:
    execution: int
    artifact: int
    context: int


def put_types(stub: service_grpc.MetadataStoreServiceStub) -> StoreTypes:
    """The writers' types, put through gRPC (REST names them)."""
    execution = stub.PutExecutionType(
        svc.PutExecutionTypeRequest(execution_type=pb.ExecutionType(name=EXECUTION_TYPE)), timeout=30
    ).type_id
    artifact = stub.PutArtifactType(
        svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name=ARTIFACT_TYPE)), timeout=30
    ).type_id
    context = stub.PutContextType(
        svc.PutContextTypeRequest(context_type=pb.ContextType(name=CONTEXT_TYPE)), timeout=30
    ).type_id
    return StoreTypes(execution, artifact, context)


def grpc_writer(
    stub: service_grpc.MetadataStoreServiceStub,
    types: StoreTypes,
    stop: threading.Event,
    tally: Tally,
    label: str,
    contexts: tuple[str, ...] = (),
    limit: int | None = None,
) -> None:
    """PutExecution (one execution, two output artifacts with their events) until ``stop``
    (or ``limit`` calls)."""
    n = 0
    while not stop.is_set() and (limit is None or n < limit):
        n += 1
        request = svc.PutExecutionRequest(
            execution=pb.Execution(type_id=types.execution, last_known_state=pb.Execution.COMPLETE),
            artifact_event_pairs=[
                svc.PutExecutionRequest.ArtifactAndEvent(
                    artifact=pb.Artifact(type_id=types.artifact, uri=f"s3://{label}/{n}/{k}"),
                    event=pb.Event(type=pb.Event.OUTPUT),
                )
                for k in range(2)
            ],
            contexts=[pb.Context(type_id=types.context, name=contexts[n % len(contexts)])] if contexts else [],
            options=svc.PutExecutionRequest.Options(reuse_context_if_already_exist=True),
        )
        began = time.monotonic()
        try:
            response = stub.PutExecution(request, timeout=60)
            tally.timed("gRPC write", time.monotonic() - began)
        except grpc.RpcError as exc:
            code = exc.code().name
            tally.count(f"gRPC {code}", f"gRPC {code}: {exc.details()}" if code in GRPC_BROKEN else None)
            if code == "UNAVAILABLE":  # the server is gone: this writer's call was cut
                return
            continue
        tally.ack(Ack("grpc", response.execution_id, tuple(response.artifact_ids)), "gRPC OK")


def http_request(
    base_url: str, method: str, path: str, token: str | None = None, body: Any = None, timeout: float = 60.0
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request on its own connection: (status, headers, body)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Accept": "application/json, text/html"}
    if token:
        headers["Authorization"] = f"Token {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _http_outcome(tally: Tally, what: str, status: int, headers: dict[str, str], body: bytes) -> None:
    if status == 503 and "retry-after" not in headers:
        tally.count(f"{what} 503 without Retry-After", f"{what} 503 without Retry-After: {body[:300]!r}")
    elif status >= 500:
        tally.count(f"{what} {status}", f"{what} {status}: {body[:300]!r}")
    else:
        tally.count(f"{what} {status}")


def rest_writer(
    base_url: str, token: str, stop: threading.Event, tally: Tally, label: str, contexts: tuple[str, ...] = ()
) -> None:
    """POST /api/v1/executions/record (one execution, two outputs) until ``stop``."""
    n = 0
    while not stop.is_set():
        n += 1
        body: dict[str, Any] = {
            "execution": {"type": EXECUTION_TYPE, "state": "COMPLETE"},
            "outputs": [{"type": ARTIFACT_TYPE, "uri": f"s3://{label}/{n}/{k}"} for k in range(2)],
        }
        if contexts:
            body["contexts"] = [{"type": CONTEXT_TYPE, "name": contexts[n % len(contexts)]}]
        began = time.monotonic()
        try:
            status, headers, raw = http_request(base_url, "POST", "/api/v1/executions/record", token, body)
            tally.timed("REST write", time.monotonic() - began)
        except (OSError, http.client.HTTPException) as exc:  # the server is gone (killed): not an answer
            tally.count(f"HTTP {type(exc).__name__}")
            return
        if status == 201:
            answer = json.loads(raw)
            ack = Ack("rest", answer["execution"]["id"], tuple(a["id"] for a in answer["outputs"]))
            tally.ack(ack, "HTTP 201")
        else:
            _http_outcome(tally, "HTTP write", status, headers, raw)


def reader(base_url: str, token: str, paths: list[str], stop: threading.Event, tally: Tally) -> None:
    """GET each of ``paths`` in turn until ``stop``; dashboard pages without the token."""
    n = 0
    while not stop.is_set():
        path = paths[n % len(paths)]
        n += 1
        began = time.monotonic()
        try:
            status, headers, raw = http_request(base_url, "GET", path, token if path.startswith("/api/") else None)
            tally.timed("read", time.monotonic() - began)
        except (OSError, http.client.HTTPException) as exc:
            tally.count(f"HTTP read {type(exc).__name__}", f"GET {path}: {exc}")
            continue
        _http_outcome(tally, "HTTP read", status, headers, raw)


@dataclass
class Audit:
    """The state of an SQLite store file against the acknowledged writes."""

    integrity: str
    executions: int
    missing: list[int]
    wrong_events: list[int]
    without_events: list[int]


def audit(path: Path, acks: list[Ack]) -> Audit:
    """Open the file as SQLite does after a crash (recovering the WAL) and check it."""
    con = sqlite3.connect(path, timeout=60)
    try:
        integrity = "; ".join(row[0] for row in con.execute("PRAGMA integrity_check"))
        executions = {row[0] for row in con.execute("SELECT id FROM store_execution")}
        events: dict[int, set[int]] = {}
        for execution_id, artifact_id in con.execute("SELECT execution_id, artifact_id FROM store_event"):
            events.setdefault(execution_id, set()).add(artifact_id)
    finally:
        con.close()
    return Audit(
        integrity=integrity,
        executions=len(executions),
        missing=[a.execution_id for a in acks if a.execution_id not in executions],
        wrong_events=[
            a.execution_id for a in acks if a.execution_id in executions and events.get(a.execution_id) != set(a.artifact_ids)
        ],
        without_events=sorted(executions - set(events)),
    )
