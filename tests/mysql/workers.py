"""Writer processes for the concurrency tests (started with multiprocessing's "spawn").

Each process sets Django up from scratch over the test database's URL, as a
separate web or gRPC server process would, and calls the request-level core
(``store.services.api.call``).  Nothing Django is imported at module level: a
spawned child imports this module before it knows its settings.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

# A worker that waits longer than this at a barrier gives up (and the test fails) instead of hanging.
BARRIER_TIMEOUT = 300


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlmdsite.settings"
    import django

    django.setup()


class _RetryCounter(logging.Handler):
    """Counts the transparent retries (store.retry logs one line per retry)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _count_retries() -> _RetryCounter:
    counter = _RetryCounter()
    logger = logging.getLogger("store.retry")
    logger.addHandler(counter)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return counter


def _error(exc: BaseException) -> dict[str, Any]:
    from store.services.errors import MetadataStoreError

    code = exc.grpc_code.name if isinstance(exc, MetadataStoreError) else "UNEXPECTED"
    return {"code": code, "type": type(exc).__name__, "message": str(exc)[:500]}


def put_executions(
    url: str, worker: int, calls: int, ids: dict[str, int], runs: int, start: Any, results: Any
) -> None:
    """``calls`` PutExecution requests: a new execution reading a shared dataset and
    writing a new model, in the shared "pipeline" context and one of ``runs``
    run contexts, both reused by name (``reuse_context_if_already_exist``)."""
    _setup(url)
    from store.proto import metadata_store_pb2 as pb
    from store.proto import metadata_store_service_pb2 as svc
    from store.services import api

    retries = _count_retries()
    api.call("GetContextsByID", svc.GetContextsByIDRequest())  # connect before the start line
    acks: list[tuple[int, list[int], list[int], str]] = []
    errors: list[dict[str, Any]] = []
    start.wait(timeout=BARRIER_TIMEOUT)
    started = time.perf_counter()
    for i in range(calls):
        run = f"run-{(worker * calls + i) % runs}"
        request = svc.PutExecutionRequest(
            execution=pb.Execution(
                type_id=ids["trainer"],
                name=f"w{worker}-e{i}",
                last_known_state=pb.Execution.COMPLETE,
                properties={"step": pb.Value(int_value=i)},
            ),
            artifact_event_pairs=[
                svc.PutExecutionRequest.ArtifactAndEvent(
                    event=pb.Event(artifact_id=ids["dataset"], type=pb.Event.INPUT)
                ),
                svc.PutExecutionRequest.ArtifactAndEvent(
                    artifact=pb.Artifact(type_id=ids["model"], uri=f"s3://models/w{worker}/{i}"),
                    event=pb.Event(type=pb.Event.OUTPUT),
                ),
            ],
            contexts=[
                pb.Context(type_id=ids["pipeline"], name="pipeline"),
                pb.Context(type_id=ids["run"], name=run),
            ],
            options=svc.PutExecutionRequest.Options(reuse_context_if_already_exist=True),
        )
        try:
            response = api.call("PutExecution", request)
        except Exception as exc:
            errors.append(_error(exc))
            continue
        acks.append((response.execution_id, list(response.artifact_ids), list(response.context_ids), run))
    elapsed = time.perf_counter() - started
    results.put({"worker": worker, "acks": acks, "errors": errors, "elapsed": elapsed, "retries": retries.count})


def race(url: str, worker: int, ids: dict[str, int], phases: list[tuple[str, list[str]]], start: Any, rounds: Any, results: Any) -> None:
    """All workers in lockstep, one name at a time, for each phase:

    ``create``: create a context of that name (PutContexts);
    ``reuse``: record an execution in a context of that name, reused if it exists (PutExecution);
    ``type``: register an execution type of that name (PutExecutionType).
    """
    _setup(url)
    from store.proto import metadata_store_pb2 as pb
    from store.proto import metadata_store_service_pb2 as svc
    from store.services import api

    def act(phase: str, name: str) -> dict[str, Any]:
        context = pb.Context(type_id=ids["context_type"], name=name)
        if phase == "create":
            return {"id": api.call("PutContexts", svc.PutContextsRequest(contexts=[context])).context_ids[0]}
        if phase == "reuse":
            request = svc.PutExecutionRequest(
                execution=pb.Execution(type_id=ids["execution_type"]),
                contexts=[context],
                options=svc.PutExecutionRequest.Options(reuse_context_if_already_exist=True),
            )
            return {"id": api.call("PutExecution", request).context_ids[0]}
        execution_type = pb.ExecutionType(name=name, properties={"step": pb.INT, "note": pb.STRING})
        return {"id": api.call("PutExecutionType", svc.PutExecutionTypeRequest(execution_type=execution_type)).type_id}

    retries = _count_retries()
    api.call("GetExecutionTypes", svc.GetExecutionTypesRequest())  # connect before the start line
    outcomes: list[dict[str, Any]] = []
    start.wait(timeout=BARRIER_TIMEOUT)
    for phase, names in phases:
        for name in names:
            rounds.wait(timeout=BARRIER_TIMEOUT)
            try:
                outcomes.append({"phase": phase, "name": name, "ok": True, **act(phase, name)})
            except Exception as exc:
                outcomes.append({"phase": phase, "name": name, "ok": False, **_error(exc)})
    results.put({"worker": worker, "outcomes": outcomes, "retries": retries.count})
