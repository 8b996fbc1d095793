"""The gRPC server's database connections: each call takes the one that was returned last.

Django keeps a connection per thread, and an SQLite connection throws its
whole page cache away when another connection has written since its last
transaction.  The server's threads take calls as grpcio's C core hands them
out, which is in turn: with a connection per thread, one client calling in
sequence met a cold cache on every call (84 page reads per ``PutExecution``
instead of 5).  Here a call borrows a connection from a stack for its
duration, whatever thread runs it: sequential calls all use the same warm
connection, and more connections open only when calls overlap.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper


class ConnectionStack:
    """Connections to ``alias`` lent to one call at a time; the last returned is the next lent."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._lock = threading.Lock()
        self._idle: list[BaseDatabaseWrapper] = []  # a stack: the last returned is the first lent
        self._opened = 0

    @contextlib.contextmanager
    def lend(self) -> Iterator[BaseDatabaseWrapper]:
        """``connections[alias]`` is the lent connection in this thread until the block ends."""
        with self._lock:
            wrapper = self._idle.pop() if self._idle else None
            if wrapper is None:
                self._opened += 1
        if wrapper is None:
            wrapper = connections.create_connection(self.alias)
            # Lent to one thread at a time, never shared at once; Django checks that a
            # connection is used by the thread that made it unless told it is shared.
            wrapper.inc_thread_sharing()
        connections[self.alias] = wrapper
        try:
            yield wrapper
        finally:
            del connections[self.alias]
            with self._lock:
                self._idle.append(wrapper)

    @property
    def opened(self) -> int:
        """Connections made so far (lent now or idle)."""
        with self._lock:
            return self._opened

    def close_all(self) -> None:
        """Close the idle connections (at shutdown, when no call runs)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
        for wrapper in idle:
            wrapper.close()
