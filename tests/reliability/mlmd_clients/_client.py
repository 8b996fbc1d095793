"""What the writer scripts share: argv, the ml-metadata client, the line protocol.

Runs under ``.venv-mlmd/bin/python`` (imported by the scripts beside it, which
Python puts first on ``sys.path``); imports ml-metadata, never Django.

Protocol with the harness: parameters come as one JSON object in ``argv[1]``;
the writer prints ``{"ready": true}`` once its channel answers, then waits for a
line on stdin before each step (the start line that releases every writer
together) and answers each step with one JSON line on stdout.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import grpc
from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


class Client:
    """ml-metadata's ``MetadataStore`` over gRPC, counting the ABORTED answers it retried."""

    def __init__(self, host: str, port: int) -> None:
        config = metadata_store_pb2.MetadataStoreClientConfig(host=host, port=port)
        self.store = metadata_store.MetadataStore(config)
        self.aborted = 0
        # The client retries ABORTED itself (up to 5 tries, ~2 s apart) inside
        # _call; count each ABORTED on the way through without changing that.
        call_method = self.store._call_method

        def counting(method_name: str, request: Any, response: Any) -> None:
            try:
                call_method(method_name, request, response)
            except errors.AbortedError:
                self.aborted += 1
                raise

        self.store._call_method = counting  # type: ignore[method-assign]


def parameters() -> dict[str, Any]:
    return json.loads(sys.argv[1])


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def wait_for_start() -> bool:
    """Block until the harness releases this step; False when it closed stdin (stop)."""
    return sys.stdin.readline() != ""


def failure(exc: Exception) -> dict[str, Any]:
    """A failed call as JSON: its status code name (``CLIENT`` when no status came back)."""
    if isinstance(exc, errors.StatusError):
        code = CODE_NAMES.get(exc.error_code, str(exc.error_code))
    else:
        code = "CLIENT"
    return {"code": code, "type": type(exc).__name__, "message": str(exc)[:400]}
