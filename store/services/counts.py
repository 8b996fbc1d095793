"""Counting and walking big tables without hurting the database, on every backend.

On MySQL/MariaDB these use django-mysql:

* ``approx_count``: InnoDB answers ``COUNT(*)`` by scanning an index, which
  on a table of millions of rows takes seconds; the dashboard's totals only
  need the size, which the server keeps as a statistic (``TABLE_ROWS``,
  typically within some tens of percent).  Small tables and filtered
  querysets are counted exactly.
* ``iterate_in_chunks``: bulk jobs (prune, graph rebuilds) walk a table in
  primary-key ranges sized to take about ``chunk_time`` seconds each, and
  pause while the server is busy (``Threads_running``), so that they neither
  hold long locks nor starve the requests of the site.

Elsewhere (SQLite, or a MySQL alias without django-mysql) the same calls count
exactly and walk in primary-key ranges of a fixed number of rows.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connections, transaction
from django.db.models import Model, QuerySet

# Below this many rows (by the server's estimate) a table is counted exactly.
APPROX_MIN_ROWS = 1000


class ApproximateCount(int):
    """A row count that is the server's estimate (``is_approximate`` tells)."""

    approximate = True


def is_approximate(count: int) -> bool:
    return getattr(count, "approximate", False)


def _is_mysql(queryset: QuerySet[Any]) -> bool:
    return connections[queryset.db].vendor == "mysql"


def approx_count(queryset: QuerySet[Any], *, min_size: int = APPROX_MIN_ROWS) -> int:
    """The number of rows of ``queryset``: MySQL's estimate for a whole big table, else exact.

    The result is an ``ApproximateCount`` when it is an estimate, so that a
    page can say "about"; it compares and formats as the plain int it is.
    """
    if _is_mysql(queryset):
        from django_mysql.models.query import approx_count as mysql_approx_count
        from django_mysql.models.query import can_approx_count

        if can_approx_count(queryset):  # type: ignore[arg-type]
            estimate = int(mysql_approx_count(queryset) or 0)
            if estimate >= min_size:
                return ApproximateCount(estimate)
    return queryset.count()


def iterate_in_chunks(
    queryset: QuerySet[Any],
    *,
    chunk_size: int = 500,
    atomically: bool = False,
    chunk_time: float = 0.5,
    max_chunk_size: int = 10_000,
    max_running_threads: int | None = 32,
) -> Iterator[QuerySet[Any]]:
    """Consecutive primary-key ranges of ``queryset``, in ascending order, as querysets.

    Rows inserted after the walk started (above the highest key seen then) are
    not visited.  Each chunk is evaluated (or updated, or deleted) by the
    caller; with ``atomically`` each chunk runs in its own transaction (so
    leaving the loop early rolls back the chunk in hand).  The queryset's
    ordering is ignored, and it may not be sliced.  On MySQL a chunk is a range
    of keys and may hold no row at all.

    MySQL: chunks start at ``chunk_size`` rows and adapt so that one takes about
    ``chunk_time`` seconds (at most ``max_chunk_size``); before each chunk the
    walk waits while more than ``max_running_threads`` queries are running on
    the server (``None``: never wait), and gives up with TimeoutError after a
    minute of that.  Elsewhere every chunk holds ``chunk_size`` rows.
    """
    if chunk_size < 1 or max_chunk_size < chunk_size:
        raise ValueError(f"need 1 <= chunk_size <= max_chunk_size, got {chunk_size} and {max_chunk_size}")
    queryset = queryset.order_by()
    if _is_mysql(queryset):
        from django_mysql.models.query import SmartChunkedIterator

        thresholds = {"Threads_running": max_running_threads} if max_running_threads is not None else {}
        yield from SmartChunkedIterator(
            queryset,
            atomically=atomically,
            status_thresholds=thresholds,
            chunk_time=chunk_time,
            chunk_size=chunk_size,
            chunk_min=1,
            chunk_max=max_chunk_size,
        )
        return
    yield from _pk_chunks(queryset, chunk_size, atomically)


def _pk_chunks(queryset: QuerySet[Any], chunk_size: int, atomically: bool) -> Iterator[QuerySet[Any]]:
    if queryset.query.low_mark or queryset.query.high_mark is not None:
        raise ValueError("iterate_in_chunks cannot walk a sliced queryset")
    queryset = queryset.order_by("pk")
    keys = queryset.values_list("pk", flat=True)
    last = keys.last()
    if last is None:
        return
    lower: Any = None
    while True:
        remaining = keys if lower is None else keys.filter(pk__gt=lower)
        # The key that closes this chunk: the chunk_size-th one from here, or the last.
        found = list(remaining.filter(pk__lte=last)[chunk_size - 1 : chunk_size])
        upper = found[0] if found else last
        chunk = queryset.filter(pk__lte=upper) if lower is None else queryset.filter(pk__gt=lower, pk__lte=upper)
        if atomically:
            with transaction.atomic(using=queryset.db):
                yield chunk
        else:
            yield chunk
        if upper == last:
            return
        lower = upper


def iterate(queryset: QuerySet[Any], **options: Any) -> Iterator[Model]:
    """The rows of ``queryset`` one by one, fetched chunk by chunk (see ``iterate_in_chunks``)."""
    for chunk in iterate_in_chunks(queryset, **options):
        yield from chunk
