"""The gRPC server's database connections (store/grpc/pool.py).

What matters to the store: a client calling in sequence is served on one
database connection (whose page cache stays warm), whatever thread grpcio's C
core hands its calls to; overlapping calls each get their own connection.
"""

from __future__ import annotations

import threading
from concurrent import futures

from django.db import connections
from google.protobuf.message import Message

from store.grpc.pool import ConnectionStack
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.conftest import Serve


def test_the_connection_returned_last_is_lent_next_and_only_inside_the_block() -> None:
    stack = ConnectionStack("default")
    with stack.lend() as first:
        assert connections["default"] is first
        with futures.ThreadPoolExecutor(1) as other:  # overlapping: a second connection
            second = other.submit(lambda: _lend_once(stack)).result()
    assert second is not first
    assert stack.opened == 2
    # ``first`` went back last (its block ended after the other's), so it is lent first;
    # then ``second``, below it.
    with stack.lend() as again, futures.ThreadPoolExecutor(1) as other:
        assert again is first
        assert other.submit(lambda: _lend_once(stack)).result() is second
    # Outside the block the thread has no lent connection.
    assert connections["default"] not in (first, second)
    stack.close_all()
    assert stack.opened == 0


def _lend_once(stack: ConnectionStack) -> object:
    with stack.lend() as wrapper:
        assert connections["default"] is wrapper
        wrapper.validate_thread_sharing()  # lent to a thread that did not make it: allowed
        return wrapper


def test_a_connection_is_lent_again_after_the_call_raised() -> None:
    stack = ConnectionStack("default")
    try:
        with stack.lend() as first:
            raise RuntimeError("the call failed")
    except RuntimeError:
        pass
    with stack.lend() as again:
        assert again is first
    assert stack.opened == 1


def test_server_serves_sequential_calls_on_one_connection_and_overlapping_calls_side_by_side(serve_with: Serve) -> None:
    seen: list[tuple[str, int]] = []
    overlap = threading.Barrier(3, timeout=10)

    def call(method: str, request: Message) -> Message:
        seen.append((threading.current_thread().name, id(connections["default"])))
        if request.uris == ["together"]:  # type: ignore[attr-defined]
            overlap.wait()  # three calls that only finish if they run at the same time
        return svc.GetArtifactsByURIResponse()

    stub = serve_with(call, workers=8)
    together = svc.GetArtifactsByURIRequest(uris=["together"])
    with futures.ThreadPoolExecutor(3) as clients:
        for answer in [clients.submit(stub.GetArtifactsByURI, together, timeout=30) for _ in range(3)]:
            answer.result()
    assert len({thread for thread, _ in seen}) == 3
    assert len({connection for _, connection in seen}) == 3
    seen.clear()
    for _ in range(40):
        stub.GetArtifactsByURI(svc.GetArtifactsByURIRequest(uris=["alone"]), timeout=30)
    assert len(seen) == 40
    assert len({connection for _, connection in seen}) == 1
    assert all(thread.startswith("mlmd-grpc_") for thread, _ in seen)
