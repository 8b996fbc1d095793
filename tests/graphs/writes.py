"""Writes through the request-level core, with the drawing hook, for the background-drawing tests.

``store.services.api.call`` runs ``graph_jobs.after_write`` inside each write's
transaction once the hook is wired in; until then :func:`call` runs the handler
exactly that way itself, so these tests exercise the same path either way.
"""

from __future__ import annotations

import inspect
from typing import Any

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api, graph_jobs
from store.services.retry import run_with_retry


def _hook_wired() -> bool:
    return "after_write" in inspect.getsource(api)


def call(method: str, request: Any) -> Any:
    """``api.call`` with the write hook."""
    if _hook_wired():
        return api.call(method, request)
    function, writes = api._HANDLERS[method]

    def run() -> Any:
        response = function(request)
        if writes:
            graph_jobs.after_write(method, request, response)
        return response

    return run_with_retry(run)


def add_execution(
    context_name: str, context_type_id: int, execution_type_id: int, *, name: str, inputs: list[int] = (),  # type: ignore[assignment]
    output_type_id: int | None = None, state: Any = pb.Execution.COMPLETE,
) -> tuple[int, list[int]]:
    """One more execution in the context (reused by name), reading ``inputs`` and writing one artifact."""
    request = svc.PutExecutionRequest(
        execution=pb.Execution(type_id=execution_type_id, name=name, last_known_state=state),
        contexts=[pb.Context(type_id=context_type_id, name=context_name)],
    )
    request.options.reuse_context_if_already_exist = True
    for artifact_id in inputs:
        pair = request.artifact_event_pairs.add()
        pair.event.artifact_id = artifact_id
        pair.event.type = pb.Event.INPUT
    if output_type_id is not None:
        pair = request.artifact_event_pairs.add()
        pair.artifact.CopyFrom(pb.Artifact(type_id=output_type_id, uri=f"s3://more/{name}", state=pb.Artifact.LIVE))
        pair.event.type = pb.Event.OUTPUT
    response = call("PutExecution", request)
    return response.execution_id, list(response.artifact_ids)
