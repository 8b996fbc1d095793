"""Filling the stored messages (``Node.serialized``) of nodes that have none.

Nodes imported by ``import_mlmd``, written before the column existed, or
saved through the admin have no stored message: every read rebuilds it from
their rows (about five times slower).  ``fill_missing`` builds the messages
with the code the reads use and stores them, a chunk of nodes per transaction.

Each chunk locks its nodes before reading their rows: an admin edit of a
property drops the node's message in its own transaction, and must not be
overtaken by a fill that read the properties before the edit and writes its
message after it.  On SQLite the write transaction is IMMEDIATE already
(``mlmdsite/env.py``), so nothing can write between the reads and the writes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from django.db import transaction

from store.db import current_alias
from store.services import nodes, sql
from store.services.kinds import KINDS, NodeKind


class ProgressBar(Protocol):
    def update(self, n: int) -> Any: ...

    def close(self) -> Any: ...


def count_missing(kind: NodeKind) -> int:
    """How many nodes of ``kind`` have no stored message."""
    [(count,)] = sql.fetchall(f"SELECT COUNT(*) FROM {sql.table(kind.model)} WHERE {_missing()}")
    return int(count)


def fill_missing(kind: NodeKind, *, chunk: int = 1000, progress: Callable[[int], Any] | None = None) -> int:
    """Store the message of every node of ``kind`` that has none, in id order; the number stored.

    ``progress`` is called with the number of nodes looked at after each chunk.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    filled = 0
    last = 0
    while True:
        # Found without a lock (a scan over ids), then locked by id in the chunk's transaction.
        ids = [
            row[0]
            for row in sql.fetchall(
                f"SELECT id FROM {sql.table(kind.model)} WHERE id > %s AND {_missing()} ORDER BY id LIMIT %s",
                [last, chunk],
            )
        ]
        if not ids:
            return filled
        last = ids[-1]
        with transaction.atomic(using=current_alias()):
            filled += _fill_chunk(kind, ids)
        if progress is not None:
            progress(len(ids))


def fill_all(
    *, chunk: int = 1000, bar: Callable[[NodeKind, int], ProgressBar] | None = None, kinds: Iterable[NodeKind] | None = None
) -> dict[str, int]:
    """``fill_missing`` for artifacts, executions and contexts: {kind name: number stored}.

    ``bar(kind, total)`` makes a progress bar per kind (``total``: the nodes
    without a message when the kind starts).
    """
    result = {}
    for kind in KINDS.values() if kinds is None else kinds:
        progress = bar(kind, count_missing(kind)) if bar is not None else None
        try:
            result[kind.name] = fill_missing(kind, chunk=chunk, progress=progress.update if progress else None)
        finally:
            if progress is not None:
                progress.close()
    return result


def _missing() -> str:
    return f"{sql.quote('serialized')} IS NULL"


def _fill_chunk(kind: NodeKind, ids: list[int]) -> int:
    filled = 0
    for part in sql.chunks(ids):
        lock = " FOR UPDATE" if sql.connection().features.has_select_for_update else ""
        rows = sql.fetchall(
            f"SELECT {sql.columns(nodes.node_columns(kind))} FROM {sql.table(kind.model)}"
            f" WHERE id IN ({sql.marks(len(part))}) AND {_missing()} ORDER BY id{lock}",
            part,
        )
        if not rows:
            continue  # stored meanwhile by a write through the services
        # Rows in node_columns order carry no stored message: node_protos builds them as the reads do.
        cases, params = [], []
        for message in nodes.node_protos(kind, rows):
            node_id = message.id
            message.ClearField("id")
            cases.append("WHEN %s THEN %s")
            params += [node_id, message.SerializeToString()]
        locked = [row[0] for row in rows]
        filled += sql.execute(
            f"UPDATE {sql.table(kind.model)} SET {sql.quote('serialized')} = CASE id {' '.join(cases)} END"
            f" WHERE id IN ({sql.marks(len(locked))}) AND {_missing()}",
            [*params, *locked],
        )
    return filled
