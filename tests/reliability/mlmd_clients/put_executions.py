"""A writer of item 1 (distinct writes): ``calls`` put_execution through ml-metadata's client.

Parameters (JSON in argv[1]): host, port, writer, calls, and the type ids
execution_type, artifact_type, context_type.  Each call stores a new
execution that reads one new artifact and writes another (two events), in a
new context of its own.  Once released, the writer makes all its calls and
prints one JSON line: the acknowledged ids, the failed calls (after the
client's own ABORTED retries), the ABORTED answers it retried and its time.
"""
from __future__ import annotations

import time
from typing import Any

from _client import Client, failure, parameters, send, wait_for_start
from ml_metadata.proto import metadata_store_pb2 as pb


def request(params: dict[str, Any], call: int) -> tuple[Any, list[tuple[Any, Any]], list[Any]]:
    tag = f"w{params['writer']}-{call}"
    execution = pb.Execution(type_id=params["execution_type"], name=f"run-{tag}")
    execution.last_known_state = pb.Execution.COMPLETE
    pairs = [
        (pb.Artifact(type_id=params["artifact_type"], uri=f"mem://in/{tag}"), pb.Event(type=pb.Event.INPUT)),
        (pb.Artifact(type_id=params["artifact_type"], uri=f"mem://out/{tag}"), pb.Event(type=pb.Event.OUTPUT)),
    ]
    return execution, pairs, [pb.Context(type_id=params["context_type"], name=f"ctx-{tag}")]


def main() -> None:
    params = parameters()
    client = Client(params["host"], params["port"])
    client.store.get_execution_types()  # connected before the start line
    send({"ready": True})
    if not wait_for_start():
        return
    acks: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    started = time.perf_counter()
    for call in range(params["calls"]):
        execution, pairs, contexts = request(params, call)
        try:
            execution_id, artifact_ids, context_ids = client.store.put_execution(execution, pairs, contexts)
        except Exception as exc:  # every failure is a result to report, not a crash
            failures.append({"call": call, **failure(exc)})
        else:
            acks.append({"execution": execution_id, "artifacts": list(artifact_ids), "contexts": list(context_ids)})
    send({
        "writer": params["writer"],
        "acks": acks,
        "failures": failures,
        "aborted": client.aborted,
        "elapsed": time.perf_counter() - started,
    })


if __name__ == "__main__":
    main()
