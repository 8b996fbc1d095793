"""Atomicity under faults (issue #10, item 3): a write that fails part-way leaves nothing behind.

Refused input (a bad property, a missing node) is covered by
tests/store/test_services_writes.py and tests/api/test_bad_input.py.  Here the
failure comes from inside the transaction: a fault is injected at the n-th
INSERT/UPDATE/DELETE the request sends to the store's tables, for every n from
the first write to the last, with Django's ``connection.execute_wrapper`` (no
hook in the product).  Four kinds of fault:

- ``bug``: a RuntimeError, an unexpected failure of the server's own code;
- ``disk``: a database error that retrying cannot cure (INTERNAL);
- ``locked``: SQLite's "database is locked" at every attempt: the core retries
  it, then gives up with ABORTED (REST: 503 with Retry-After);
- ``locked once``: the same, at the first attempt only: retried, it succeeds
  and the run is written exactly once.

After each refused request every table of the store has as many rows as
before; the error reached the caller (never swallowed: the fault fired).  The
core opens and commits its own transaction, so the tests commit for real
(``transaction=True``).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import OperationalError, connection
from django.test import Client

from store.api.permissions import WRITERS_GROUP
from store.models import IdempotencyKey
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api
from store.services.errors import Aborted, MetadataStoreError
from tests.store.mlmd import artifact_type, call, context_type, execution_type, put_artifacts, row_counts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RECORD = "/api/v1/executions/record"
KINDS = ("bug", "disk", "locked", "locked once")
# A write to one of the store's tables (quoted "store_x" on SQLite, `store_x` on MySQL).
_STORE_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b.*?[`\"]store_", re.IGNORECASE | re.DOTALL)


class Injected(RuntimeError):
    """The fault of kind ``bug``: no part of the product expects it."""


class WriteFault:
    """An ``execute_wrapper`` that raises at the ``at``-th store write of each attempt (never when ``at`` is 0)."""

    def __init__(self, kind: str | None = None, at: int = 0) -> None:
        self.kind = kind
        self.at = at
        self.writes = 0  # store writes of the current attempt
        self.fired = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if _STORE_WRITE.match(sql):
            self.writes += 1
            if self.writes == self.at and (self.kind != "locked once" or not self.fired):
                self.fired += 1
                self.writes = 0  # the attempt ends here; a retry counts from its own first write
                raise self._error()
        return execute(sql, params, many, context)

    def _error(self) -> BaseException:
        if self.kind == "bug":
            return Injected(f"injected fault at store write #{self.at}")
        if self.kind == "disk":
            return OperationalError("disk I/O error (injected)")
        return OperationalError("database is locked (injected)")


@contextmanager
def faults(kind: str | None = None, at: int = 0) -> Iterator[WriteFault]:
    fault = WriteFault(kind, at)
    with connection.execute_wrapper(fault):
        yield fault


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}


Attempt = Callable[[int], Any]  # one request, its names made unique by the number; raises or returns
Outcome = Callable[[str, WriteFault, Any], None]  # checks how a refused request was answered


def sweep(
    attempt: Attempt,
    refused: Outcome,
    expected_delta: dict[str, int],
    min_writes: int,
    counts: Callable[[], dict[str, int]] = row_counts,
) -> dict[str, int]:
    """A clean run, then a fault of each kind at each of its writes; tallies for the figure."""
    serial = itertools.count()
    before = counts()
    with faults() as counter:
        attempt(next(serial))
    writes = counter.writes
    assert _diff(counts(), before) == expected_delta
    assert writes >= min_writes, f"only {writes} store writes: the request does not write what it should"
    tally = {"writes": writes, "refused": 0, "retried": 0}
    for kind in KINDS:
        for n in range(1, writes + 1):
            before = counts()
            with faults(kind, n) as fault:
                outcome = attempt(next(serial))
            assert fault.fired, f"{kind} at write #{n}: the fault never fired"
            if kind == "locked once":
                assert fault.fired == 1
                assert _diff(counts(), before) == expected_delta, f"retried after write #{n}: not written exactly once"
                tally["retried"] += 1
                continue
            refused(kind, fault, outcome)
            assert counts() == before, f"{kind} at write #{n} left rows behind"
            tally["refused"] += 1
    return tally


def core_attempt(method: str, build: Callable[[int], Any]) -> Attempt:
    """Call the core; a raised error is the outcome (a success is None)."""

    def attempt(serial: int) -> Any:
        try:
            api.call(method, build(serial))
        except Exception as exc:  # the outcome: checked by core_refused
            return exc
        return None

    return attempt


def core_refused(kind: str, fault: WriteFault, outcome: Any) -> None:
    """The caller got the fault as the store's status (or, for a bug, the bug itself)."""
    if kind == "bug":
        assert isinstance(outcome, Injected), outcome
    elif kind == "disk":
        assert isinstance(outcome, MetadataStoreError) and not isinstance(outcome, Aborted), outcome
        assert outcome.grpc_code.name == "INTERNAL" and "disk I/O error" in str(outcome)
        assert fault.fired == 1  # not worth retrying
    else:
        assert isinstance(outcome, Aborted), outcome
        assert outcome.grpc_code.name == "ABORTED"
        assert fault.fired == 3  # run_with_retry's three attempts, then the caller decides


def _put_execution_request(type_ids: tuple[int, int, int], input_id: int, serial: int) -> svc.PutExecutionRequest:
    artifact_type_id, execution_type_id, context_type_id = type_ids
    request = svc.PutExecutionRequest(
        execution=pb.Execution(type_id=execution_type_id, properties={"state": pb.Value(string_value="done")}),
        contexts=[pb.Context(type_id=context_type_id, name=f"experiment-{serial}")],
    )
    request.artifact_event_pairs.add(event=pb.Event(artifact_id=input_id, type=pb.Event.INPUT))
    request.artifact_event_pairs.add(
        artifact=pb.Artifact(type_id=artifact_type_id, uri=f"s3://model/{serial}", properties={"day": pb.Value(int_value=1)}),
        event=pb.Event(type=pb.Event.OUTPUT),
    )
    return request


def test_put_execution_fault_at_every_write(figure: Callable[[str], None]) -> None:
    type_ids = (artifact_type(), execution_type(), context_type())
    [input_id] = put_artifacts(pb.Artifact(type_id=type_ids[0], uri="s3://data"))
    delta = {
        "Execution": 1, "ExecutionProperty": 1, "Artifact": 1, "ArtifactProperty": 1, "Event": 2,
        "Context": 1, "Attribution": 2, "Association": 1,
    }
    tally = sweep(
        core_attempt("PutExecution", lambda serial: _put_execution_request(type_ids, input_id, serial)),
        core_refused, delta, min_writes=7,
    )
    figure(_describe("PutExecution (1 input, 1 new output, 1 new context)", tally))


def test_put_lineage_subgraph_fault_at_every_write(figure: Callable[[str], None]) -> None:
    artifact_type_id, execution_type_id, context_type_id = artifact_type(), execution_type(), context_type()

    def build(serial: int) -> svc.PutLineageSubgraphRequest:
        request = svc.PutLineageSubgraphRequest(
            executions=[pb.Execution(type_id=execution_type_id, name=f"train-{serial}")],
            artifacts=[
                pb.Artifact(type_id=artifact_type_id, uri=f"in/{serial}"),
                pb.Artifact(type_id=artifact_type_id, uri=f"out/{serial}"),
            ],
            contexts=[pb.Context(type_id=context_type_id, name=f"pipeline-{serial}")],
        )
        request.event_edges.add(execution_index=0, artifact_index=0, event=pb.Event(type=pb.Event.INPUT))
        request.event_edges.add(execution_index=0, artifact_index=1, event=pb.Event(type=pb.Event.OUTPUT))
        return request

    delta = {"Execution": 1, "Artifact": 2, "Context": 1, "Event": 2, "Attribution": 2, "Association": 1}
    tally = sweep(core_attempt("PutLineageSubgraph", build), core_refused, delta, min_writes=6)
    figure(_describe("PutLineageSubgraph (1 execution, 2 artifacts, 1 context)", tally))


# ---------------------------------------------------------------------------- REST


@pytest.fixture
def writer_client(settings: Any) -> Client:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = User.objects.create_user("writer", "writer@example.com", "pw")
    user.groups.add(Group.objects.get_or_create(name=WRITERS_GROUP)[0])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def record_types() -> None:
    call(
        "PutTypes",
        artifact_types=[
            pb.ArtifactType(name="DataSet", properties={"day": pb.INT}),
            pb.ArtifactType(name="Model", properties={"version": pb.INT}),
        ],
        execution_types=[pb.ExecutionType(name="Trainer", properties={"lr": pb.DOUBLE})],
        context_types=[pb.ContextType(name="Experiment")],
    )


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotency-key"])
def test_rest_record_fault_at_every_write(
    writer_client: Client, record_types: None, idempotent: bool, figure: Callable[[str], None]
) -> None:
    dataset_type = call("GetArtifactType", type_name="DataSet").artifact_type.id
    [dataset_id] = put_artifacts(pb.Artifact(type_id=dataset_type, uri="s3://data/day1", properties={"day": pb.Value(int_value=1)}))

    def attempt(serial: int) -> Any:
        body = {
            "execution": {"type": "Trainer", "properties": {"lr": 0.1}, "state": "COMPLETE"},
            "inputs": [{"id": dataset_id}],
            "outputs": [{"type": "Model", "uri": f"s3://m/{serial}", "properties": {"version": serial}}],
            "contexts": [{"type": "Experiment", "name": f"exp-{serial}"}],
        }
        headers = {"HTTP_IDEMPOTENCY_KEY": f"record-{serial}"} if idempotent else {}
        response = writer_client.post(RECORD, body, content_type="application/json", **headers)
        if response.status_code == 201:
            return None
        return response

    def refused(kind: str, fault: WriteFault, response: Any) -> None:
        assert response is not None, f"{kind}: the request succeeded although the fault fired"
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        if kind == "locked":
            # Busy, not broken: the client is told to come back.
            assert response.status_code == 503, body
            assert response["Retry-After"].isdigit(), dict(response.items())
            assert body["code"] == "aborted", body
        else:
            # A fault nobody foresaw is what any unexpected server fault is: a 500 whose body
            # says so without leaking the exception (the log has it).
            assert response.status_code == 500, body
            assert body["code"] == "internal", body
            assert "injected" not in body["detail"] or kind == "disk", body

    delta = {
        "Execution": 1, "ExecutionProperty": 1, "Artifact": 1, "ArtifactProperty": 1, "Event": 2,
        "Context": 1, "Attribution": 2, "Association": 1,
    }
    if idempotent:
        delta["IdempotencyKey"] = 1  # the stored answer, written in the same transaction

    def counts() -> dict[str, int]:
        # A failed request must not leave its key behind either (a retry would replay the failure).
        return {**row_counts(), "IdempotencyKey": IdempotencyKey.objects.count()}

    tally = sweep(attempt, refused, delta, min_writes=7 + idempotent, counts=counts)
    label = "REST POST /executions/record" + (" with Idempotency-Key" if idempotent else "")
    figure(_describe(label, tally))


def _describe(what: str, tally: dict[str, int]) -> str:
    return (
        f"{what}: {tally['writes']} store writes; a fault at each x {len(KINDS)} kinds: "
        f"{tally['refused']} refused with every row count unchanged, "
        f"{tally['retried']} retried after a one-off lock and written exactly once"
    )
