"""The gRPC server whose threads serve their calls from start to answer (store/grpc/engine.py).

A real server on grpcio's C core and a real grpcio client on a local port; the
handlers are small functions, so what is checked is the server: statuses and
messages as grpcio's own server gives them, sequential calls on one thread,
overlapping calls side by side up to a cap, a server stream, shutdown, and no
call's state kept after it ended.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import pytest

from store.grpc import engine
from store.grpc.engine import CallServer

SERVICE = "test.Echo"


class Running:
    def __init__(self, server: CallServer, channel: grpc.Channel) -> None:
        self.server, self.channel = server, channel

    def call(self, method: str, request: bytes = b"hello", **kwargs: object) -> bytes:
        return self.channel.unary_unary(f"/{SERVICE}/{method}")(request, **kwargs)  # type: ignore[no-any-return]

    def stop(self, grace: float | None = 0) -> None:
        self.server.stop(grace)


Handler = Callable[[bytes, grpc.ServicerContext], bytes]


@pytest.fixture()
def serve() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(handlers: dict[str, Handler | grpc.RpcMethodHandler], threads: int = 4, gate: engine.Gate | None = None) -> Running:
        server = CallServer(
            engine.method_paths(SERVICE, {name: _handler(h) for name, h in handlers.items()}),
            threads,
            gate=gate,
            thread_name_prefix="test-loop",
        )
        port = server.add_port("127.0.0.1:0")
        server.start()
        running = Running(server, grpc.insecure_channel(f"127.0.0.1:{port}"))
        started.append(running)
        return running

    yield start
    for running in started:
        running.channel.close()
        running.stop()


def _handler(handler: Handler | grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    return handler if isinstance(handler, grpc.RpcMethodHandler) else grpc.unary_unary_rpc_method_handler(handler)


def test_answers_run_on_the_loops_threads(serve: Callable[..., Running]) -> None:
    threads: list[str] = []

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        threads.append(threading.current_thread().name)
        return request[::-1]

    running = serve({"Echo": echo})
    assert running.call("Echo", b"abc") == b"cba"
    assert running.call("Echo", b"") == b""
    assert threads and all(name.startswith("test-loop_") for name in threads)


def test_abort_set_code_and_exceptions_give_grpcios_statuses(serve: Callable[..., Running]) -> None:
    def abort(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.set_trailing_metadata((("why", "because"),))
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        raise AssertionError("abort returned")

    def set_code(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
        context.set_details("not now")
        return b"ignored"

    def fails(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise ValueError("broken handler")

    def abort_ok(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.OK, "fine?")
        return b""

    running = serve({"Abort": abort, "SetCode": set_code, "Fails": fails, "AbortOk": abort_ok, "Echo": lambda r, c: r})
    for method, code, details in [
        ("Abort", grpc.StatusCode.NOT_FOUND, "no such thing"),
        ("SetCode", grpc.StatusCode.FAILED_PRECONDITION, "not now"),
        ("Fails", grpc.StatusCode.UNKNOWN, "Exception calling application: broken handler"),
        ("AbortOk", grpc.StatusCode.UNKNOWN, ""),
    ]:
        with pytest.raises(grpc.RpcError) as raised:
            running.call(method)
        assert raised.value.code() is code, method
        assert raised.value.details() == details, method
        if method == "Abort":
            assert ("why", "because") in raised.value.trailing_metadata()
    # The loop keeps serving after all of them.
    assert running.call("Echo", b"after") == b"after"


def test_a_method_not_served_by_the_loop_is_unimplemented(serve: Callable[..., Running]) -> None:
    running = serve({"Echo": lambda request, context: request})
    with pytest.raises(grpc.RpcError) as raised:
        running.call("Missing")
    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert running.call("Echo", b"still here") == b"still here"


def test_context_reports_deadline_peer_metadata_and_activity(serve: Callable[..., Running]) -> None:
    seen: dict[str, object] = {}

    def look(request: bytes, context: grpc.ServicerContext) -> bytes:
        seen["remaining"] = context.time_remaining()
        seen["peer"] = context.peer()
        seen["metadata"] = dict(context.invocation_metadata())
        seen["active"] = context.is_active()
        return b""

    running = serve({"Look": look})
    running.call("Look", timeout=20, metadata=(("x-run", "42"),))
    assert 15 < seen["remaining"] <= 21  # type: ignore[operator]  # the header rounds the timeout up a little
    assert str(seen["peer"]).startswith("ipv4:127.0.0.1:")
    assert seen["metadata"]["x-run"] == "42"  # type: ignore[index]
    assert seen["active"] is True


def test_a_call_past_its_deadline_is_seen_as_inactive(serve: Callable[..., Running]) -> None:
    started, finished = threading.Event(), threading.Event()
    seen: list[bool] = []

    def slow(request: bytes, context: grpc.ServicerContext) -> bytes:
        started.set()
        deadline = time.monotonic() + 10
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(context.is_active())
        finished.set()
        time.sleep(0.3)  # answer well after the client's deadline, not in a race with it
        return b"late"

    running = serve({"Slow": slow})
    with pytest.raises(grpc.RpcError) as raised:
        running.call("Slow", timeout=0.5)
    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert finished.wait(10)
    assert seen == [False]


def test_overlapping_calls_run_side_by_side_up_to_the_threads_and_then_wait(serve: Callable[..., Running]) -> None:
    lock = threading.Lock()
    now = peak = 0

    def busy(request: bytes, context: grpc.ServicerContext) -> bytes:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
        time.sleep(0.2)
        with lock:
            now -= 1
        return request

    running = serve({"Busy": busy}, threads=3)
    with futures.ThreadPoolExecutor(8) as clients:
        answers = [clients.submit(running.call, "Busy", str(n).encode(), timeout=30) for n in range(8)]
        assert [answer.result() for answer in answers] == [str(n).encode() for n in range(8)]
    assert peak == 3


def test_the_gate_refuses_before_the_request_is_read(serve: Callable[..., Running]) -> None:
    ran: list[bytes] = []

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        ran.append(request)
        return request

    def gate(method: str, metadata: engine.Metadata) -> tuple[grpc.StatusCode, str] | None:
        if dict(metadata).get("pass") == "yes":
            return None
        return grpc.StatusCode.PERMISSION_DENIED, f"{method} needs a pass"

    running = serve({"Echo": echo}, gate=gate)
    with pytest.raises(grpc.RpcError) as raised:
        running.call("Echo", b"sneaky")
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert raised.value.details() == f"/{SERVICE}/Echo needs a pass"
    assert running.call("Echo", b"ok", metadata=(("pass", "yes"),)) == b"ok"
    assert ran == [b"ok"]


def test_stop_lets_a_running_handler_finish_and_ends_the_threads(serve: Callable[..., Running]) -> None:
    started = threading.Event()

    def slow(request: bytes, context: grpc.ServicerContext) -> bytes:
        started.set()
        time.sleep(1.0)
        return b"done"

    running = serve({"Slow": slow}, threads=2)
    with futures.ThreadPoolExecutor(1) as client:
        answer = client.submit(running.call, "Slow", b"", timeout=30)
        assert started.wait(10)
        assert running.server.running == 1
        running.stop(grace=5)
        assert answer.result() == b"done"  # within its grace: answered
    assert running.server.running == 0
    assert not any(thread.is_alive() for thread in running.server.threads)


def test_no_calls_state_is_kept_after_the_calls(serve: Callable[..., Running]) -> None:
    running = serve({"Echo": lambda request, context: request})
    for number in range(300):
        running.call("Echo", str(number).encode())
    time.sleep(0.2)  # the last call's close and send events are polled after the client has its answer
    gc.collect()
    workers = set(map(id, running.server._workers))
    # type(), not isinstance(): the heap holds weak proxies, whose isinstance() may find them dead.
    calls = [obj for obj in gc.get_objects() if type(obj) is engine._Call]
    kept = [call for call in calls if id(call.worker) in workers]  # other tests' servers may still be closing
    assert len(kept) <= 1, kept  # at most the call being torn down


def test_only_unary_methods_and_non_blocking_streams_are_accepted() -> None:
    streaming = grpc.unary_stream_rpc_method_handler(lambda request, context: iter(()))
    with pytest.raises(ValueError, match="only unary methods and non-blocking server streams"):
        CallServer({f"/{SERVICE}/Stream": streaming}, 1)
    with pytest.raises(ValueError, match="at least 1"):
        CallServer({}, 0)


def test_sequential_calls_are_served_by_one_thread(serve: Callable[..., Running]) -> None:
    threads: list[str] = []

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        threads.append(threading.current_thread().name)
        return request

    running = serve({"Echo": echo}, threads=8)
    for number in range(50):
        assert running.call("Echo", str(number).encode()) == str(number).encode()
    assert len(threads) == 50
    assert len(set(threads)) == 1, sorted(set(threads))


def test_a_non_blocking_stream_sends_in_order_and_ends_at_stop(serve: Callable[..., Running]) -> None:
    senders: list[Callable[[bytes | None], None]] = []
    ended = threading.Event()

    def watch(request: bytes, context: grpc.ServicerContext, send_response_callback: Callable[[bytes | None], None]) -> None:
        context.add_callback(ended.set)
        send_response_callback(b"first:" + request)
        senders.append(send_response_callback)

    watch.experimental_non_blocking = True  # type: ignore[attr-defined]
    running = serve({"Watch": grpc.unary_stream_rpc_method_handler(watch), "Echo": lambda r, c: r}, threads=2)
    answers = running.channel.unary_stream(f"/{SERVICE}/Watch")(b"x", timeout=30)
    assert next(answers) == b"first:x"
    # The stream stays open while the thread goes on serving other calls.
    assert running.call("Echo", b"meanwhile") == b"meanwhile"
    for number in range(20):
        senders[0](str(number).encode())
    assert [next(answers) for _ in range(20)] == [str(number).encode() for number in range(20)]
    started = time.monotonic()
    running.stop(grace=30)
    assert list(answers) == []  # ended with OK, not cancelled
    assert answers.code() is grpc.StatusCode.OK
    assert time.monotonic() - started < 10  # not held open for the whole grace
    assert ended.wait(10)
