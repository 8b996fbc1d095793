"""The gRPC server's request threads (store/grpc/pool.py).

What matters to the store: a client calling in sequence is served by one
thread (one database connection, whose page cache stays warm), overlapping
calls still run side by side up to the pool's size, and the pool behaves as an
executor should (results, exceptions, a backlog, shutdown).
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import pytest
from google.protobuf.message import Message

from store.grpc.pool import LifoThreadPool
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.conftest import Serve


def test_tasks_in_sequence_run_on_the_thread_that_went_idle_last() -> None:
    pool = LifoThreadPool(4, thread_name_prefix="t")
    try:
        # Three at once start three threads...
        gate = threading.Barrier(4)
        busy = [pool.submit(gate.wait) for _ in range(3)]
        gate.wait(timeout=10)
        futures.wait(busy, timeout=10)
        assert pool.threads_started == 3
        # ...then calls one after the other all go to one of them.
        names = {pool.submit(lambda: threading.current_thread().name).result(timeout=10) for _ in range(50)}
        assert len(names) == 1, names
        assert pool.threads_started == 3
    finally:
        pool.shutdown()


def test_never_more_threads_than_max_workers_and_the_backlog_is_run() -> None:
    pool = LifoThreadPool(2)
    running = 0
    most = 0
    lock = threading.Lock()

    def task(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return i * i

    try:
        results = [f.result(timeout=30) for f in [pool.submit(task, i) for i in range(20)]]
    finally:
        pool.shutdown()
    assert results == [i * i for i in range(20)]
    assert most == 2
    assert pool.threads_started == 2


def test_an_exception_reaches_the_future_and_the_thread_keeps_working() -> None:
    pool = LifoThreadPool(1)
    try:
        failing = pool.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failing.result(timeout=10)
        assert pool.submit(lambda: "still here").result(timeout=10) == "still here"
    finally:
        pool.shutdown()


def test_shutdown_ends_the_threads_and_refuses_new_work() -> None:
    pool = LifoThreadPool(3, thread_name_prefix="shutdown-test")
    started = [pool.submit(time.sleep, 0.05) for _ in range(3)]
    pool.shutdown(wait=True)
    assert all(f.done() for f in started)
    assert pool.threads_started == 3
    # This pool's own threads (another test's pool may still be winding down).
    assert not [t for t in threading.enumerate() if t.name.startswith("shutdown-test_")]
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(print)


def test_shutdown_can_cancel_the_backlog() -> None:
    pool = LifoThreadPool(1)
    release = threading.Event()
    first = pool.submit(release.wait, 10)
    queued = [pool.submit(print, i) for i in range(3)]
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert first.result(timeout=10) is True
    assert all(f.cancelled() for f in queued)


def test_server_serves_sequential_calls_on_one_thread_and_overlapping_calls_side_by_side(serve_with: Serve) -> None:
    threads: list[str] = []
    overlap = threading.Barrier(3, timeout=10)

    def call(method: str, request: Message) -> Message:
        threads.append(threading.current_thread().name)
        if request.uris == ["together"]:  # type: ignore[attr-defined]
            overlap.wait()  # three calls that only finish if they run at the same time
        return svc.GetArtifactsByURIResponse()

    stub = serve_with(call, workers=8)
    together = svc.GetArtifactsByURIRequest(uris=["together"])
    with futures.ThreadPoolExecutor(3) as clients:
        for answer in [clients.submit(stub.GetArtifactsByURI, together, timeout=30) for _ in range(3)]:
            answer.result()
    assert len(set(threads)) == 3
    threads.clear()
    for _ in range(40):
        stub.GetArtifactsByURI(svc.GetArtifactsByURIRequest(uris=["alone"]), timeout=30)
    assert len(threads) == 40
    assert len(set(threads)) == 1, sorted(set(threads))
    assert threads[0].startswith("mlmd-grpc")
