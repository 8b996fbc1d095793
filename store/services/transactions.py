"""Transactions and database-error mapping for store requests.

One request is one transaction.  Database errors that mean "try again"
(SQLite's "database is locked", MySQL deadlocks and lock-wait timeouts) become
ABORTED, the status the ml-metadata client retries; uniqueness violations
become ALREADY_EXISTS; a dangling reference becomes INVALID_ARGUMENT.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError, DataError, IntegrityError, OperationalError, transaction

from store.db import current_alias
from store.services.errors import Aborted, AlreadyExists, InvalidArgument, MetadataStoreError

# MySQL/MariaDB error numbers.  The server rolled the transaction back (a deadlock
# victim) or the statement gave up waiting for a row lock (lock wait timeout).
_MYSQL_CONFLICT = {1213, 1205}
# The connection is gone: server gone away, lost during a query, lost (system
# error), MySQL 8's "disconnected for inactivity".  Whether a COMMIT sent just
# before it took effect is unknown.
_MYSQL_CONNECTION_LOST = {2006, 2013, 2055, 4031}
_MYSQL_RETRYABLE = _MYSQL_CONFLICT | _MYSQL_CONNECTION_LOST


def now_ms() -> int:
    return int(time.time() * 1000)


def request_transaction() -> Any:
    return transaction.atomic(using=current_alias())


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """A read-only request: on SQLite its transaction begins DEFERRED, not IMMEDIATE.

    Writes take the database's write lock when they begin (so that two writers
    never both pass a check, see ``retry.writers_can_race``); a read needs no
    write lock, only the snapshot its first SELECT takes (WAL), and must not
    queue behind writers for one.  Other databases are left as they are.
    """
    connection = transaction.get_connection(current_alias())
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()
    mode = connection.transaction_mode
    connection.transaction_mode = "DEFERRED"
    try:
        yield
    finally:
        connection.transaction_mode = mode


def reads_share_no_snapshot(connection: Any) -> bool:
    """Whether a read-only request may run its statements in autocommit, without a transaction.

    On MySQL/MariaDB at READ COMMITTED (the store's setting) every statement
    reads the rows committed before it began, inside a transaction or not, so
    a read-only request's transaction buys nothing there, and costs three round
    trips (autocommit off, COMMIT, autocommit on): ~0.4 ms of a ~0.9 ms small
    read on a local MariaDB.  On SQLite the transaction is what gives the
    request's statements one snapshot: it stays.
    """
    if connection.vendor != "mysql":
        return False
    connection.ensure_connection()  # the isolation level is read from the options when connecting
    return getattr(connection, "isolation_level", None) == "read committed"


@contextlib.contextmanager
def savepoint() -> Iterator[None]:
    """A nested transaction: a failure inside it leaves the outer request usable."""
    with transaction.atomic(using=current_alias()):
        yield


def _mysql_code(exc: BaseException) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def is_retryable(exc: BaseException) -> bool:
    """A transient failure: running the same transaction again may succeed."""
    if isinstance(exc, OperationalError):
        if _mysql_code(exc) in _MYSQL_RETRYABLE:
            return True
        text = str(exc).lower()
        return "database is locked" in text or "database table is locked" in text or "deadlock" in text
    return False


def is_unique_violation(exc: BaseException) -> bool:
    """A unique key refused a row: a duplicate in the request, or a concurrent writer that committed it first."""
    if not isinstance(exc, IntegrityError):
        return False
    if _mysql_code(exc) in (1062, 1586):  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
        return True
    return "unique constraint failed" in str(exc).lower()


def is_connection_lost(exc: BaseException) -> bool:
    """The connection died: a transaction in flight may or may not have been committed."""
    return isinstance(exc, OperationalError) and _mysql_code(exc) in _MYSQL_CONNECTION_LOST


def translate_database_error(exc: DatabaseError, method: str) -> MetadataStoreError:
    """The store error a database error stands for."""
    text = str(exc)
    if is_retryable(exc):
        return Aborted(f"{method}: the database is busy ({text}); retry the request")
    if isinstance(exc, DataError):
        # A value the column cannot hold (too long, out of range): the request's fault.
        return InvalidArgument(f"{method}: a value does not fit its column ({text})")
    if isinstance(exc, IntegrityError):
        lowered = text.lower()
        if "foreign key" in lowered:
            return InvalidArgument(f"{method}: a referenced node does not exist ({text})")
        if "unique" in lowered or "duplicate" in lowered:
            return AlreadyExists(f"{method}: {_describe_unique(text)}")
        if "not null" in lowered or "cannot be null" in lowered:
            return InvalidArgument(f"{method}: a required field is missing ({text})")
        return InvalidArgument(f"{method}: {text}")
    # Anything else (a read-only file, a missing table, a disk error) will not get
    # better by retrying: INTERNAL, as MLMD answers, not ABORTED.
    return MetadataStoreError(f"{method}: database error ({text})")


_CONSTRAINT_TEXT = {
    "artifact_unique_type_name": "an artifact with this name already exists in its type",
    "execution_unique_type_name": "an execution with this name already exists in its type",
    "context_unique_type_name": "a context with this name already exists in its type",
    "store_artifact.type_id, store_artifact.name": "an artifact with this name already exists in its type",
    "store_execution.type_id, store_execution.name": "an execution with this name already exists in its type",
    "store_context.type_id, store_context.name": "a context with this name already exists in its type",
    "store_artifact.external_id": "an artifact with this external_id already exists",
    "store_execution.external_id": "an execution with this external_id already exists",
    "store_context.external_id": "a context with this external_id already exists",
    "event_unique_artifact_execution_type": "this event already exists",
    "store_event.artifact_id, store_event.execution_id, store_event.type": "this event already exists",
    "parentcontext_unique_pair": "this parent context already exists",
    "store_parentcontext.context_id, store_parentcontext.parent_id": "this parent context already exists",
}


def _describe_unique(text: str) -> str:
    for needle, meaning in _CONSTRAINT_TEXT.items():
        if needle in text:
            return f"{meaning} ({text})"
    return f"a unique constraint was violated ({text})"
