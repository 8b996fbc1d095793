"""The gRPC server's request threads: the next request goes to the thread that went idle last.

Each request thread has its own database connection (Django's are per
thread), and an SQLite connection throws its whole page cache away when
another connection has written since its last transaction.  The standard
``ThreadPoolExecutor`` hands requests to its threads in turn, so one client
calling in sequence met a cold cache on every call (84 page reads per
``PutExecution`` instead of 5).  Here idle threads form a stack: sequential
calls all run on one thread and its warm connection, and more threads wake
only when requests overlap.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent import futures
from typing import Any

_Task = tuple[futures.Future, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _Worker:
    __slots__ = ("task", "thread", "wake")

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()
        self.task: _Task | None = None


class LifoThreadPool(futures.Executor):
    """At most ``max_workers`` threads, started on demand; an idle thread is reused last-in first-out."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "pool") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # a stack: the last to go idle is the first to work
        self._backlog: deque[_Task] = deque()  # tasks waiting while every thread is busy
        self._workers: list[_Worker] = []
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future:
        future: futures.Future = futures.Future()
        task: _Task = (future, fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._idle:
                worker = self._idle.pop()
                worker.task = task
                worker.wake.set()
            elif len(self._workers) < self._max_workers:
                worker = _Worker()
                worker.task = task
                worker.thread = threading.Thread(
                    target=self._work, args=(worker,), name=f"{self._prefix}_{len(self._workers)}", daemon=True
                )
                self._workers.append(worker)
                worker.thread.start()
            else:
                self._backlog.append(task)
        return future

    def _work(self, worker: _Worker) -> None:
        task = worker.task
        worker.task = None
        while task is not None:
            future, fn, args, kwargs = task
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # the future carries it to whoever waits
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, fn, args, kwargs
            task = self._next(worker)

    def _next(self, worker: _Worker) -> _Task | None:
        """The next task for ``worker``: from the backlog, else wait idle on top of the stack (None: shut down)."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            if self._shutdown:
                return None
            worker.wake.clear()
            self._idle.append(worker)
        worker.wake.wait()
        task = worker.task
        worker.task = None
        return task

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._backlog:
                    self._backlog.popleft()[0].cancel()
            idle, self._idle = self._idle, []
            workers = list(self._workers)
        for worker in idle:  # task None: the thread ends
            worker.wake.set()
        if wait:
            for worker in workers:
                if worker.thread is not None and worker.thread is not threading.current_thread():
                    worker.thread.join()

    @property
    def threads_started(self) -> int:
        with self._lock:
            return len(self._workers)
