"""A writer of item 2 (same-key races) through ml-metadata's client.

Parameters (JSON in argv[1]): host, port, writer, schedule (a list of
[phase, round] steps) and the type ids execution_type, artifact_type,
context_type.  Every writer prepares the same step, waits for the start line
that releases all of them together, makes one call and prints its outcome:

- ``context``: put_execution with a new context named ``race-context-<round>``;
- ``external_id``: put_execution with a new artifact whose external_id is
  ``race-artifact-<round>``;
- ``type``: put_artifact_type ``race-type-<round>`` version ``v1``, with a
  property of this writer's own, so that any two definitions differ;
- ``reuse``: put_execution with a new context named ``race-reuse-<round>`` and
  ``reuse_context_if_already_exist``.

Execution names and artifact URIs name the phase, round and writer, so the
harness can tell whose rows were stored.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _client import Client, failure, parameters, send, wait_for_start
from ml_metadata.proto import metadata_store_pb2 as pb


def step(client: Client, params: dict[str, Any], phase: str, round_: int) -> Callable[[], dict[str, Any]]:
    """The call of one step, built before the start line so that the writers leave it together."""
    store = client.store
    tag = f"{phase}-{round_}-w{params['writer']}"
    execution = pb.Execution(type_id=params["execution_type"], name=tag)
    artifact = pb.Artifact(type_id=params["artifact_type"], uri=f"mem://{tag}")
    output = pb.Event(type=pb.Event.OUTPUT)

    def put_execution(contexts: list[Any], **options: bool) -> dict[str, Any]:
        execution_id, artifact_ids, context_ids = store.put_execution(
            execution, [(artifact, output)], contexts, **options
        )
        return {"execution": execution_id, "artifacts": list(artifact_ids), "contexts": list(context_ids)}

    if phase == "context":
        context = pb.Context(type_id=params["context_type"], name=f"race-context-{round_}")
        return lambda: put_execution([context])
    if phase == "reuse":
        context = pb.Context(type_id=params["context_type"], name=f"race-reuse-{round_}")
        return lambda: put_execution([context], reuse_context_if_already_exist=True)
    if phase == "external_id":
        artifact.external_id = f"race-artifact-{round_}"
        return lambda: put_execution([])
    if phase == "type":
        artifact_type = pb.ArtifactType(
            name=f"race-type-{round_}", version="v1", properties={f"by_w{params['writer']}": pb.STRING}
        )
        return lambda: {"type": store.put_artifact_type(artifact_type)}
    raise ValueError(f"unknown phase {phase!r}")


def main() -> None:
    params = parameters()
    client = Client(params["host"], params["port"])
    client.store.get_execution_types()  # connected before the first start line
    send({"ready": True})
    for phase, round_ in params["schedule"]:
        call = step(client, params, phase, round_)
        if not wait_for_start():
            return
        aborted_before = client.aborted
        try:
            outcome = {"ok": True, **call()}
        except Exception as exc:  # a lost race is an outcome to report
            outcome = {"ok": False, **failure(exc)}
        send({
            "writer": params["writer"],
            "phase": phase,
            "round": round_,
            "tag": f"{phase}-{round_}-w{params['writer']}",
            "aborted": client.aborted - aborted_before,
            **outcome,
        })


if __name__ == "__main__":
    main()
