"""A gRPC server whose threads each serve the calls they are handed, from start to answer.

grpcio's own server (``grpc.server``) polls one completion queue on one thread
and hands each call to a worker thread, which asks for the request message and
waits for the poller to pass it over; the poller wakes again for every
completion after.  A call thus crossed threads three times, each a wake-up of
a sleeping thread and a handover of the GIL, on another CPU whenever the OS
had one idle.  On this project's 2-vCPU machine a bare call took 0.64-0.65 ms
round trip through it (p50) against 0.34-0.38 ms here (README, Performance).

Here each thread has a completion queue of its own and asks grpcio's C core
for one call at a time on it.  The thread that gets a call receives its
message, runs the handler and sends the answer: no other thread is involved.
It asks for its next call just before it answers, so a client calling in
sequence is served by the same thread every time; calls that arrive while a
thread is busy go to a thread with a call outstanding, so overlapping calls run
side by side, up to ``threads`` of them, and wait in the C core beyond that.

Served: unary-unary methods, and server-streaming methods in grpcio's
non-blocking form (the handler gets a ``send_response_callback`` and returns at
once; the health service's Watch).  Anything else is UNIMPLEMENTED.

This is built on grpcio's Cython layer (``grpc._cython.cygrpc``), the layer
grpcio's own server is written on; requirements.txt pins grpcio, and a grpcio
without it fails at startup with a clear error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc

try:
    from grpc import _common as grpc_common
    from grpc._cython import cygrpc
except ImportError:  # pragma: no cover - a grpcio that moved its internals
    cygrpc = None

logger = logging.getLogger("store.grpc")

Metadata = tuple[tuple[str, Any], ...]
# Decides from a call's method and metadata whether it may run: None, or the refusal's (code, details).
Gate = Callable[[str, Metadata], "tuple[grpc.StatusCode, str] | None"]

_NO_FLAGS = 0
_METHOD_NOT_FOUND = "Method not found!"


class EngineError(RuntimeError):
    """The installed grpcio lacks what this server is built on, or a port could not be bound."""


class _Aborted(Exception):
    """Raised by ``_Context.abort``: the handler ends the call with the context's status."""


class _Call:
    """One call: its request event, the thread serving it, and what its handler set."""

    __slots__ = ("callbacks", "code", "details", "event", "finished", "stream", "trailing", "worker")

    def __init__(self, event: Any, worker: _Worker) -> None:
        self.event = event
        self.worker = worker
        self.code = grpc.StatusCode.OK
        self.details = ""
        self.trailing: Metadata | None = None
        self.finished = False  # the call has ended: answered, cancelled or past its deadline
        self.callbacks: list[Callable[[], None]] | None = None
        self.stream: _Stream | None = None

    @property
    def method(self) -> str:
        return grpc_common.decode(self.event.call_details.method)


class _Context(grpc.ServicerContext):
    """What a handler may ask of its call (grpc.ServicerContext)."""

    __slots__ = ("_call",)

    def __init__(self, call: _Call) -> None:
        self._call = call

    def is_active(self) -> bool:
        """False past the deadline; a client's cancellation is seen when the handler has returned.

        (The call's events come to the thread that runs the handler, which polls only between calls.)
        """
        call = self._call
        return not call.finished and call.event.call_details.deadline > time.time()

    def time_remaining(self) -> float:
        return max(self._call.event.call_details.deadline - time.time(), 0)

    def cancel(self) -> None:
        self._call.event.call.cancel()

    def add_callback(self, callback: Callable[[], None]) -> bool:
        """``callback`` runs when the call ends (as grpcio's: for streams that outlive their handler)."""
        call = self._call
        with call.worker.lock:
            if call.finished:
                return False
            if call.callbacks is None:
                call.callbacks = []
            call.callbacks.append(callback)
        return True

    def invocation_metadata(self) -> Metadata:
        return self._call.event.invocation_metadata

    def peer(self) -> str:
        return grpc_common.decode(self._call.event.call.peer())

    def peer_identities(self) -> Any:
        return cygrpc.peer_identities(self._call.event.call)

    def peer_identity_key(self) -> str | None:
        key = cygrpc.peer_identity_key(self._call.event.call)
        return None if key is None else grpc_common.decode(key)

    def auth_context(self) -> Mapping[str, Any]:
        context = cygrpc.auth_context(self._call.event.call) or {}
        return {grpc_common.decode(key): value for key, value in context.items()}

    def set_compression(self, compression: grpc.Compression) -> None:
        raise NotImplementedError("this server does not compress answers")

    def disable_next_message_compression(self) -> None:
        pass  # nothing is compressed

    def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        raise NotImplementedError("this server sends initial metadata with the answer")

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._call.trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Metadata | None:
        return self._call.trailing

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        if code is grpc.StatusCode.OK:  # as grpcio: aborting with OK fails the call
            code, details = grpc.StatusCode.UNKNOWN, ""
        self._call.code, self._call.details = code, details
        raise _Aborted()

    def abort_with_status(self, status: grpc.Status) -> None:
        self._call.trailing = tuple(status.trailing_metadata or ())
        self.abort(status.code, status.details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._call.code = code

    def code(self) -> grpc.StatusCode:
        return self._call.code

    def set_details(self, details: str) -> None:
        self._call.details = details

    def details(self) -> str:
        return self._call.details


class _Stream:
    """The answers of a non-blocking server-streaming call, sent one at a time in order."""

    def __init__(self, call: _Call, serializer: Callable[[Any], bytes] | None) -> None:
        self._call = call
        self._serializer = serializer
        self._queue: deque[bytes | None] = deque()  # None: the end of the stream
        self._sending = False
        self._metadata_sent = False
        self._ended = False  # the end is queued or sent: later responses are dropped

    def send(self, response: Any) -> None:
        """grpcio's ``send_response_callback``: a response, or None to end the call with OK."""
        item = None if response is None else (self._serializer(response) if self._serializer else response)
        with self._call.worker.lock:
            if self._call.finished or self._ended:
                return
            self._ended = item is None
            self._queue.append(item)
            if not self._sending:
                self._next()

    def sent(self) -> None:
        """The previous batch completed: send what is queued next (runs on the call's thread)."""
        with self._call.worker.lock:
            self._sending = False
            if not self._call.finished and self._queue:
                self._next()

    def _next(self) -> None:  # under the worker's lock
        item = self._queue.popleft()
        operations: list[Any] = []
        if not self._metadata_sent:
            operations.append(cygrpc.SendInitialMetadataOperation(None, _NO_FLAGS))
            self._metadata_sent = True
        if item is None:
            operations.append(cygrpc.SendStatusFromServerOperation(None, cygrpc.StatusCode.ok, b"", _NO_FLAGS))
        else:
            operations.append(cygrpc.SendMessageOperation(item, _NO_FLAGS))
        self._sending = True
        self._call.event.call.start_server_batch(operations, _Sent(self._call))


class _Asked:
    """The tag of the call a thread has asked the C core for."""

    __slots__ = ()


class _Received:
    """The tag of a call's request message."""

    __slots__ = ("call",)

    def __init__(self, call: _Call) -> None:
        self.call = call


class _Closed:
    """The tag of a call's end as the client sees it."""

    __slots__ = ("call",)

    def __init__(self, call: _Call) -> None:
        self.call = call


class _Sent:
    """The tag of an answer's batch (for a stream: send the next message)."""

    __slots__ = ("call",)

    def __init__(self, call: _Call) -> None:
        self.call = call


_ASKED = _Asked()
_SHUTDOWN = object()


class _Worker:
    """A thread and its completion queue, on which it asks for one call at a time."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.queue = cygrpc.CompletionQueue()
        self.lock = threading.Lock()  # guards the streams and callbacks of this thread's calls
        self.thread: threading.Thread | None = None


class CallServer:
    """``handlers`` (by method path, ``/package.Service/Method``) served on ``threads`` threads."""

    def __init__(
        self,
        handlers: Mapping[str, grpc.RpcMethodHandler],
        threads: int,
        options: Sequence[tuple[str, Any]] = (),
        gate: Gate | None = None,
        thread_name_prefix: str = "grpc-call",
    ) -> None:
        if cygrpc is None:  # pragma: no cover
            raise EngineError(f"grpcio {grpc.__version__} has no grpc._cython.cygrpc; install requirements.txt's grpcio")
        if threads < 1:
            raise ValueError("threads must be at least 1")
        for method, handler in handlers.items():
            blocking_stream = handler.response_streaming and not getattr(
                handler.unary_stream, "experimental_non_blocking", False
            )
            if handler.request_streaming or blocking_stream:
                raise ValueError(f"{method}: only unary methods and non-blocking server streams are served")
        self._handlers = {method.encode(): handler for method, handler in handlers.items()}
        self._gate = gate
        self._prefix = thread_name_prefix
        self._server = cygrpc.Server(tuple(options), False)
        self._workers = [_Worker(number) for number in range(threads)]
        for worker in self._workers:
            self._server.register_completion_queue(worker.queue)
        self._shutdown_queue = cygrpc.CompletionQueue()
        self._server.register_completion_queue(self._shutdown_queue)
        self._state = threading.Condition()
        self._accepting = False
        self._running = 0  # handlers running now
        self._streams: set[_Stream] = set()  # open server streams, ended at stop
        self._stopped = False

    def add_port(self, address: str, credentials: grpc.ServerCredentials | None = None) -> int:
        """Listen on ``address`` (``host:port``; port 0 picks one); the port bound."""
        try:
            if credentials is None:
                return int(self._server.add_http2_port(address.encode()))
            return int(self._server.add_http2_port(address.encode(), credentials._credentials))
        except (RuntimeError, ValueError) as exc:
            raise EngineError(str(exc)) from exc

    def start(self) -> None:
        self._server.start()
        with self._state:
            self._accepting = True
        for worker in self._workers:
            self._ask(worker)
            worker.thread = threading.Thread(
                target=self._poll, args=(worker,), name=f"{self._prefix}_{worker.number}", daemon=True
            )
            worker.thread.start()

    def stop(self, grace: float | None) -> None:
        """Take no new calls; let calls end within ``grace`` seconds, then cancel them; wait for every handler.

        A handler cannot be interrupted (it may be in the middle of a transaction):
        past the grace its call is cancelled, and this returns once it has ended.
        """
        with self._state:
            if self._stopped:
                return
            self._stopped = True
            self._accepting = False
        self._server.shutdown(self._shutdown_queue, _SHUTDOWN)
        # Streams (health watches) last until the client leaves: end them now, after what they queued.
        with self._state:
            streams = list(self._streams)
        for stream in streams:
            stream.send(None)
        deadline = None if grace is None else time.time() + grace
        if not self._wait_for_shutdown(deadline):
            self._server.cancel_all_calls()
            self._wait_for_shutdown(None)
        with self._state:
            self._state.wait_for(lambda: self._running == 0)
        for worker in self._workers:
            worker.queue.shutdown()
        for worker in self._workers:
            if worker.thread is not None:
                worker.thread.join()
        self._shutdown_queue.shutdown()
        self._server.destroy()

    def _wait_for_shutdown(self, deadline: float | None) -> bool:
        while True:
            event = self._shutdown_queue.poll(deadline)
            if event.tag is _SHUTDOWN:
                return True
            if event.completion_type == cygrpc.CompletionType.queue_timeout:
                return False

    @property
    def running(self) -> int:
        """Handlers running now."""
        with self._state:
            return self._running

    @property
    def threads(self) -> list[threading.Thread]:
        return [worker.thread for worker in self._workers if worker.thread is not None]

    # ------------------------------------------------------------------ a thread's loop

    def _ask(self, worker: _Worker) -> None:
        """Ask the C core for this thread's next call, unless the server is stopping."""
        with self._state:
            if not self._accepting:
                return
            self._server.request_call(worker.queue, worker.queue, _ASKED)

    def _poll(self, worker: _Worker) -> None:
        queue = worker.queue
        while True:
            event = queue.poll()
            if event.completion_type == cygrpc.CompletionType.queue_shutdown:
                return
            try:
                self._dispatch(worker, event)
            except Exception:  # a thread never dies of one call
                logger.exception("gRPC server: unexpected error handling %r", event.tag)
            del event

    def _dispatch(self, worker: _Worker, event: Any) -> None:
        tag = event.tag
        kind = type(tag)
        if kind is _Received:
            asked = False
            try:
                asked = self._serve(tag.call, event)
            finally:
                if not asked:
                    self._ask(worker)
        elif kind is _Asked:
            if not event.success:
                return  # the server is stopping
            call = _Call(event, worker)
            event.call.start_server_batch((cygrpc.ReceiveCloseOnServerOperation(_NO_FLAGS),), _Closed(call))
            event.call.start_server_batch((cygrpc.ReceiveMessageOperation(_NO_FLAGS),), _Received(call))
        elif kind is _Sent:
            if tag.call.stream is not None:
                tag.call.stream.sent()
        elif kind is _Closed:
            self._closed(tag.call)

    def _closed(self, call: _Call) -> None:
        with call.worker.lock:
            call.finished = True
            callbacks, call.callbacks = call.callbacks, None
        if call.stream is not None:
            with self._state:
                self._streams.discard(call.stream)
        for callback in callbacks or ():
            try:
                callback()
            except Exception:
                logger.exception("gRPC server: a callback at the end of %s failed", call.method)

    def _serve(self, call: _Call, event: Any) -> bool:
        """Run the call's handler and answer; True if the thread has asked for its next call already."""
        data = event.batch_operations[0].message() if event.success else None
        if data is None:  # no request message: the client went away, or sent none
            if not call.finished:
                self._answer(call, None, grpc.StatusCode.UNIMPLEMENTED, f'"{call.method}" requires exactly one request message.')
            return False
        method = call.event.call_details.method
        handler = self._handlers.get(method)
        with self._state:
            self._running += 1
        try:
            if self._gate is not None:
                refused = self._gate(grpc_common.decode(method), call.event.invocation_metadata)
                if refused is not None:
                    self._answer(call, None, *refused)
                    return False
            if handler is None:
                self._answer(call, None, grpc.StatusCode.UNIMPLEMENTED, _METHOD_NOT_FOUND)
                return False
            if handler.response_streaming:
                self._start_stream(call, handler, data)
                return False
            result = self._run(call, handler, data)
            # Ask for the next call before answering: a client calling in sequence then finds
            # this thread (and its warm caches) waiting, not another one.
            self._ask(call.worker)
            self._answer(call, *result)
            return True
        finally:
            with self._state:
                self._running -= 1
                if self._running == 0:
                    self._state.notify_all()

    def _request(self, call: _Call, handler: grpc.RpcMethodHandler, data: bytes) -> Any:
        try:
            return handler.request_deserializer(data) if handler.request_deserializer else data
        except Exception:
            logger.exception("gRPC server: the request of %s could not be read", call.method)
            call.code, call.details = grpc.StatusCode.INTERNAL, "Exception deserializing request!"
            return None

    def _run(self, call: _Call, handler: grpc.RpcMethodHandler, data: bytes) -> tuple[bytes | None, grpc.StatusCode, str]:
        request = self._request(call, handler, data)
        if request is None:
            return None, call.code, call.details
        try:
            response = handler.unary_unary(request, _Context(call))
        except _Aborted:
            return None, call.code, call.details
        except Exception as exc:
            logger.exception("gRPC server: %s raised", call.method)
            return None, grpc.StatusCode.UNKNOWN, f"Exception calling application: {exc}"
        if call.code is not grpc.StatusCode.OK:  # set_code without abort: no message, as grpcio
            return None, call.code, call.details
        try:
            answer = handler.response_serializer(response) if handler.response_serializer else response
        except Exception:
            logger.exception("gRPC server: the answer of %s could not be written", call.method)
            return None, grpc.StatusCode.INTERNAL, "Failed to serialize response!"
        return answer, grpc.StatusCode.OK, call.details

    def _start_stream(self, call: _Call, handler: grpc.RpcMethodHandler, data: bytes) -> None:
        request = self._request(call, handler, data)
        if request is None:
            self._answer(call, None, call.code, call.details)
            return
        call.stream = _Stream(call, handler.response_serializer)
        with self._state:
            self._streams.add(call.stream)
        try:
            handler.unary_stream(request, _Context(call), call.stream.send)
        except _Aborted:
            self._answer(call, None, call.code, call.details)
        except Exception as exc:
            logger.exception("gRPC server: %s raised", call.method)
            self._answer(call, None, grpc.StatusCode.UNKNOWN, f"Exception calling application: {exc}")

    @staticmethod
    def _answer(call: _Call, answer: bytes | None, code: grpc.StatusCode, details: str) -> None:
        operations: list[Any] = [cygrpc.SendInitialMetadataOperation(None, _NO_FLAGS)]
        if answer is not None:
            operations.append(cygrpc.SendMessageOperation(answer, _NO_FLAGS))
        status = grpc_common.STATUS_CODE_TO_CYGRPC_STATUS_CODE[code]
        operations.append(
            cygrpc.SendStatusFromServerOperation(call.trailing, status, grpc_common.encode(details or ""), _NO_FLAGS)
        )
        # On a call the client has left this batch fails; the C core reports that as an event.
        call.event.call.start_server_batch(operations, _Sent(call))


def method_paths(service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> dict[str, grpc.RpcMethodHandler]:
    """``handlers`` of ``service`` by method path, as calls name them."""
    return {f"/{service}/{name}": handler for name, handler in handlers.items()}
