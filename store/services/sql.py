"""Plain SQL for the store's hot paths, through Django's connection of the current alias.

Building a query with the ORM costs about twenty times what running it does on
SQLite (``bench/workload.py`` measured ~0.9 ms against ~40 µs per statement),
and a ``PutExecution`` runs a dozen of them.  The write path and the node
reads therefore run fixed, parameterized statements through the same
connection, transaction and cursor wrapper as the ORM (``%s`` placeholders on
every backend; query capture in tests still sees them).  Table and column
names come from the models, so a renamed field fails loudly here too.

Values are written and read exactly as Django's fields would: JSON as
``json.dumps`` text, booleans as 0/1, binary as bytes.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Model, QuerySet

from store.db import current_alias, current_connection

# Ids per IN (...) list.  Below SQLite's old 999-variable limit, with room for other parameters.
CHUNK = 500


def connection() -> Any:
    return current_connection()


def chunks(ids: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@lru_cache(maxsize=64)
def marks(count: int) -> str:
    """``%s, %s, ...`` for ``count`` parameters."""
    return ", ".join(["%s"] * count)


# Quoting is the backend's; its result is kept per (vendor, name): looking the
# connection up for every name costs more than the statement it goes into.
@lru_cache(maxsize=256)
def _vendor(alias: str) -> str:
    return connections[alias].vendor


@lru_cache(maxsize=4096)
def _quote(vendor: str, name: str) -> str:
    return connection().ops.quote_name(name)


def vendor() -> str:
    return _vendor(current_alias())


def quote(name: str) -> str:
    return _quote(vendor(), name)


def table(model: type[Model]) -> str:
    return _quote(vendor(), model._meta.db_table)


def columns(names: Iterable[str]) -> str:
    return _columns(vendor(), tuple(names))


@lru_cache(maxsize=1024)
def _columns(vendor: str, names: tuple[str, ...]) -> str:
    return ", ".join(_quote(vendor, name) for name in names)


@lru_cache(maxsize=512)
def _qmark(statement: str) -> str:
    # The statements built here hold no literal "%": every "%s" is a parameter.
    return statement.replace("%s", "?")


def _direct(wrapper: Any) -> Any | None:
    """The driver's own connection, when a statement may skip Django's cursor wrapper.

    On SQLite the wrapper's work per statement (a new cursor, placeholder
    rewriting by regular expression, thread checks) costs as much as running
    the statement.  Errors are still turned into ``django.db`` exceptions; and
    whenever queries are being logged (DEBUG, tests capturing queries) or an
    execute wrapper is installed, statements go through Django as usual.
    """
    if wrapper.vendor != "sqlite" or wrapper.execute_wrappers or wrapper.queries_logged:
        return None
    if wrapper.connection is None:
        wrapper.ensure_connection()
    wrapper.validate_no_broken_transaction()
    return wrapper.connection


def fetchall(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    wrapper = connection()
    direct = _direct(wrapper)
    if direct is not None:
        with wrapper.wrap_database_errors:
            return direct.execute(_qmark(statement), params).fetchall()
    with wrapper.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def existing_ids(model: type[Model], ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` that are rows of ``model``'s table."""
    found: set[int] = set()
    for chunk in chunks(sorted(set(ids))):
        found.update(row[0] for row in fetchall(f"SELECT id FROM {table(model)} WHERE id IN ({marks(len(chunk))})", chunk))
    return found


def execute(statement: str, params: Sequence[Any] = ()) -> int:
    """Run a statement; the number of rows it changed."""
    wrapper = connection()
    direct = _direct(wrapper)
    if direct is not None:
        with wrapper.wrap_database_errors:
            return direct.execute(_qmark(statement), params).rowcount
    with wrapper.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def fetch_queryset(queryset: QuerySet[Any], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """The ``names`` columns of a queryset's rows, in its order, as plain tuples (no field conversion)."""
    query = queryset.values_list(*names).query
    try:
        statement, params = query.get_compiler(using=current_alias()).as_sql()
    except EmptyResultSet:  # a filter that cannot match (``id__in=[]``, ``.none()``)
        return []
    return fetchall(statement, params)


@lru_cache(maxsize=512)
def _insert_sql(
    vendor: str, table_name: str, names: tuple[str, ...], rows: int, returning: bool, skip_duplicates: bool = False
) -> str:
    quoted = ", ".join(_quote(vendor, name) for name in names)
    one = f"({marks(len(names))})"
    tail = f" RETURNING {_quote(vendor, 'id')}" if returning else ""
    if skip_duplicates:
        # Only a unique key's refusal is skipped; a foreign key or NOT NULL
        # violation still fails (unlike MySQL's INSERT IGNORE).
        if vendor == "mysql":
            tail = f" ON DUPLICATE KEY UPDATE {_quote(vendor, 'id')} = {_quote(vendor, 'id')}" + tail
        else:
            tail = " ON CONFLICT DO NOTHING" + tail
    return f"INSERT INTO {_quote(vendor, table_name)} ({quoted}) VALUES {', '.join([one] * rows)}{tail}"


def insert(
    model: type[Model],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: bool = False,
    skip_duplicates: bool = False,
) -> list[int]:
    """Insert rows (values in ``names`` order); their new ids in row order when ``returning``.

    Several rows go in one statement.  Where the backend has ``RETURNING`` on a
    multi-row insert (SQLite, MariaDB 10.5+) the ids come back with it; the ids
    of one statement's rows grow in row order, so sorting them restores it
    whatever order the database returns them in.  Elsewhere each row that needs
    its id is inserted alone.  ``skip_duplicates``: rows that a unique key
    refuses are left out (not with ``returning``).
    """
    if not rows:
        return []
    if returning and skip_duplicates:
        raise ValueError("skip_duplicates cannot say which rows were inserted")
    wrapper = connection()
    current = _vendor(current_alias())
    table_name = model._meta.db_table
    names = tuple(names)
    ids: list[int] = []
    if returning and not wrapper.features.can_return_rows_from_bulk_insert:
        statement = _insert_sql(current, table_name, names, 1, False)
        with wrapper.cursor() as cursor:
            for row in rows:
                cursor.execute(statement, row)
                ids.append(wrapper.ops.last_insert_id(cursor, table_name, "id"))
        return ids
    per_statement = max(1, min(CHUNK, 999 // len(names)))
    for batch in chunks(rows, per_statement):
        params = [value for row in batch for value in row]
        statement = _insert_sql(current, table_name, names, len(batch), returning, skip_duplicates)
        if returning:
            ids.extend(sorted(row[0] for row in fetchall(statement, params)))
        else:
            execute(statement, params)
    return ids


def json_text(value: Any) -> str | None:
    """A JSONField's value as Django stores it."""
    return None if value is None else json.dumps(value)


def json_value(stored: Any) -> Any:
    """A JSONField's stored text as Python (some drivers decode it already)."""
    if stored is None or not isinstance(stored, (str, bytes, bytearray)):
        return stored
    return json.loads(stored)
