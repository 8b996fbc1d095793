"""Transparent retry of a request's transaction after a transient database conflict.

Concurrent writers on MySQL/MariaDB can deadlock (InnoDB then rolls one of
them back) or wait too long for a row lock; on SQLite a writer can find the
file locked.  Nothing was committed in either case, so the whole transaction
is run again, a bounded number of times with a short random pause, before the
caller gets ABORTED.

A uniqueness violation is run again once too.  The services check before
they insert (a context reused by name, a membership that may exist already, a
type put again); two writers can pass the check together on MySQL, and the
second one's insert then meets the first one's committed row.  Run again, the
request sees that row and takes the path it would have taken had it come a
moment later.  A duplicate that is really in the request fails the same way
twice and is reported (ALREADY_EXISTS).  Not on SQLite, which runs one writer
at a time from the start of its transaction: there the check cannot race.

``run_with_retry`` owns the transaction, so it knows whether a failure came
from the work or from the COMMIT: a connection lost during the work is
retried on a new connection, one lost while committing is not (the commit may
have taken effect, and running the work again could record it twice).

Inside a transaction opened by someone else nothing is retried: on MySQL a
deadlock has already rolled back that outer transaction, so only its owner can
start again.
"""
from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError, transaction

from store.db import current_alias, current_connection
from store.services.transactions import (
    is_connection_lost,
    is_retryable,
    is_unique_violation,
    reading,
    reads_share_no_snapshot,
)

logger = logging.getLogger("store.retry")

T = TypeVar("T")

# Pauses grow as 20 ms, 40 ms, 80 ms ... (at most 1 s), each a random part of that ("full jitter"),
# so that writers who collided do not collide again at the same moment.
BASE_DELAY_SECONDS = 0.02
MAX_DELAY_SECONDS = 1.0


def backoff_delay(attempt: int, *, base: float = BASE_DELAY_SECONDS, cap: float = MAX_DELAY_SECONDS) -> float:
    """The pause after failed attempt number ``attempt`` (1-based)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def _database_error(exc: BaseException) -> DatabaseError | None:
    """The database error behind ``exc``: itself, or the one that a nested
    ``api.call`` turned into a store error (ABORTED, ALREADY_EXISTS)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    # Follow the whole chain: an adapter may wrap the store error once more.
    while current is not None and id(current) not in seen:
        if isinstance(current, DatabaseError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def writers_can_race(connection: Any) -> bool:
    """Whether two writers can both pass a check before either inserts.

    Not on SQLite: a write transaction there takes the database's write lock
    when it begins (IMMEDIATE), so writers run one after the other.
    """
    return connection.vendor != "sqlite"


def run_read(fn: Callable[[], T]) -> T:
    """Run a read-only ``fn()`` as every read request runs: retried like a write, on SQLite in a
    DEFERRED transaction (its one snapshot), on MySQL/MariaDB at READ COMMITTED in autocommit."""
    with reading():
        return run_with_retry(fn, transactional=not reads_share_no_snapshot(current_connection()))


def run_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    transactional: bool = True,
) -> T:
    """Run ``fn()`` in one transaction on the current store database; run it again on a transient failure.

    ``transactional=False`` runs ``fn()`` in autocommit, each statement its own
    transaction: for a read-only ``fn`` where that reads the same rows
    (``transactions.reads_share_no_snapshot``); inside a larger transaction it
    joins that one as usual.

    At most ``attempts`` runs.  The last failure, or any failure that is not
    transient, is raised unchanged (``transactions.translate_database_error``
    turns it into the store's error).  A store error raised from a database
    error (``raise AlreadyExists(...) from exc``, or a nested ``api.call``'s
    translation) counts as that database error, so a caller may also wrap
    several calls, or ``idempotency.run_once``, in one retried transaction.
    ``fn`` must have no effect outside the database that a second run would
    repeat (on-commit hooks are fine: they run only for the attempt that
    commits).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    alias = current_alias()
    connection = transaction.get_connection(alias)
    if connection.in_atomic_block:
        # Part of a larger transaction: its owner decides what to run again.
        with transaction.atomic(using=alias):
            return fn()
    unique_retried = not writers_can_race(connection)
    for attempt in range(1, attempts + 1):
        work_done = False
        try:
            with transaction.atomic(using=alias) if transactional else contextlib.nullcontext():
                result = fn()
                work_done = True
            return result
        except Exception as exc:
            cause = _database_error(exc)
            if cause is None:
                raise
            lost = is_connection_lost(cause)
            race = is_unique_violation(cause) and not unique_retried
            if attempt == attempts or not (is_retryable(cause) or race) or (lost and work_done):
                raise
            unique_retried = unique_retried or race
            if lost:
                # Drop the dead connection; the next attempt opens a new one.
                with contextlib.suppress(DatabaseError):
                    connection.close()
            delay = backoff_delay(attempt)
            logger.info(
                "retrying a transaction on %s (attempt %d of %d, in %.0f ms): %s",
                alias, attempt + 1, attempts, delay * 1000, cause,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
