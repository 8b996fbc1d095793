"""Edges: events, attributions, associations and parent contexts."""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from store.models import Artifact, Association, Attribution, Context, Event, Execution, ParentContext
from store.proto import metadata_store_pb2 as pb
from store.services import sql
from store.services.errors import AlreadyExists, InvalidArgument
from store.services.transactions import now_ms

# ---------------------------------------------------------------------------- events


def _path_json(event: Any) -> list[dict[str, Any]] | None:
    if not event.HasField("path"):
        return None
    steps: list[dict[str, Any]] = []
    for step in event.path.steps:
        which = step.WhichOneof("value")
        if which == "index":
            steps.append({"index": step.index})
        elif which == "key":
            steps.append({"key": step.key})
        else:
            raise InvalidArgument("Event.path: a step needs an index or a key")
    return steps


def _existing_events(artifact_ids: set[int], execution_ids: set[int]) -> set[tuple[int, int, int]]:
    found: set[tuple[int, int, int]] = set()
    if not artifact_ids or not execution_ids:
        return found
    table = sql.table(Event)
    artifacts = sorted(artifact_ids)
    for chunk in sql.chunks(sorted(execution_ids)):
        for artifact_chunk in sql.chunks(artifacts):
            found.update(
                sql.fetchall(
                    f"SELECT artifact_id, execution_id, type FROM {table}"
                    f" WHERE execution_id IN ({sql.marks(len(chunk))}) AND artifact_id IN ({sql.marks(len(artifact_chunk))})",
                    [*chunk, *artifact_chunk],
                )
            )
    return found


def put_events(
    events: Sequence[Any],
    *,
    skip_existing: bool = False,
    known_artifacts: Iterable[int] = (),
    known_executions: Iterable[int] = (),
    new_executions: Iterable[int] = (),
) -> int:
    """Record events.  Both ends must exist; an event type is required.

    A repeated (artifact, execution, type) is ALREADY_EXISTS, as in MLMD, unless
    ``skip_existing`` (used by put_execution, where re-recording the same run is
    harmless).  ``known_*`` are ids the caller has just written in this
    transaction (no need to look them up); ``new_executions`` were inserted by
    it, so no stored event can name them.  Returns the number of events written.
    """
    if not events:
        return 0
    artifact_ids = {e.artifact_id for e in events if e.HasField("artifact_id")}
    execution_ids = {e.execution_id for e in events if e.HasField("execution_id")}
    known_artifact_set = set(known_artifacts)
    known_execution_set = set(known_executions)
    known_artifact_set |= sql.existing_ids(Artifact, artifact_ids - known_artifact_set)
    known_execution_set |= sql.existing_ids(Execution, execution_ids - known_execution_set)
    existing = _existing_events(artifact_ids, execution_ids - set(new_executions))
    rows: list[tuple[Any, ...]] = []
    seen: set[tuple[int, int, int]] = set()
    now = now_ms()
    for position, event in enumerate(events):
        label = f"Event #{position}"
        if not event.HasField("artifact_id"):
            raise InvalidArgument(f"{label}: no artifact_id is given")
        if not event.HasField("execution_id"):
            raise InvalidArgument(f"{label}: no execution_id is given")
        if not event.HasField("type") or event.type == pb.Event.UNKNOWN:
            raise InvalidArgument(f"{label}: no event type is given")
        if event.artifact_id not in known_artifact_set:
            raise InvalidArgument(f"{label}: no artifact with id {event.artifact_id}")
        if event.execution_id not in known_execution_set:
            raise InvalidArgument(f"{label}: no execution with id {event.execution_id}")
        key = (event.artifact_id, event.execution_id, event.type)
        if key in existing or key in seen:
            if skip_existing:
                continue
            raise AlreadyExists(
                f"{label}: the event ({pb.Event.Type.Name(event.type)}) between artifact {event.artifact_id}"
                f" and execution {event.execution_id} already exists"
            )
        seen.add(key)
        rows.append(event_row(event, event.artifact_id, event.execution_id, now, path_json_text(event)))
    insert_events(rows)
    return len(rows)


_EVENT_COLUMNS = ("artifact_id", "execution_id", "type", "milliseconds_since_epoch", "path")


def event_row(event: Any, artifact_id: int, execution_id: int, now: int, path: str | None) -> tuple[Any, ...]:
    """An event's row for ``insert_events``: its time is ``now`` unless it has one; ``path`` from ``path_json_text``."""
    milliseconds = event.milliseconds_since_epoch if event.HasField("milliseconds_since_epoch") else now
    return (artifact_id, execution_id, event.type, milliseconds, path)


def insert_events(rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert checked events, rows made by ``event_row``."""
    sql.insert(Event, _EVENT_COLUMNS, rows)


def path_json_text(event: Any) -> str | None:
    """The event's path as the store keeps it (JSON text), None without a path.

    Pipelines repeat a handful of paths: the text is kept per serialized path.
    """
    if not event.HasField("path"):
        return None
    return _path_text(event.path.SerializeToString())


@lru_cache(maxsize=4096)
def _path_text(serialized: bytes) -> str | None:
    event = pb.Event()
    event.path.MergeFromString(serialized)
    event.path.SetInParent()
    return sql.json_text(_path_json(event))


def _path_message(steps: list[dict[str, Any]]) -> Any:
    path = pb.Event.Path()
    for step in steps:
        if "index" in step:
            path.steps.add(index=step["index"])
        else:
            path.steps.add(key=step["key"])
    return path


@lru_cache(maxsize=4096)
def _path_bytes(stored: str | bytes) -> bytes:
    """A stored path (JSON text) as a serialized Event.Path: pipelines repeat a handful of paths."""
    return _path_message(json.loads(stored)).SerializeToString()


def event_protos(rows: Iterable[Any], *, into: Any = None) -> list[Any]:
    """Events as messages, from model rows or (id, artifact_id, execution_id, type, milliseconds, path) tuples.

    ``into``: a repeated Event field to build them in (extending one with finished messages copies them).
    """
    result = []
    new_event = pb.Event if into is None else into.add
    for row in rows:
        if isinstance(row, tuple):
            _, artifact_id, execution_id, event_type, milliseconds, path = row
        else:
            artifact_id, execution_id, event_type = row.artifact_id, row.execution_id, row.type
            milliseconds, path = row.milliseconds_since_epoch, row.path
        event = new_event(
            artifact_id=artifact_id, execution_id=execution_id, type=event_type, milliseconds_since_epoch=milliseconds
        )
        if path is not None:
            event.path.SetInParent()
            if isinstance(path, (str, bytes)):
                event.path.MergeFromString(_path_bytes(path))
            else:
                event.path.CopyFrom(_path_message(path))
        result.append(event)
    return result


def _events_where(column: str, ids: Iterable[int]) -> list[Any]:
    rows: list[tuple[Any, ...]] = []
    head = (
        "SELECT id, artifact_id, execution_id, type, milliseconds_since_epoch, path"
        f" FROM {sql.table(Event)} WHERE {column} IN "
    )
    for chunk in sql.chunks(sorted(set(ids))):
        rows.extend(sql.fetchall(f"{head}({sql.marks(len(chunk))})", chunk))
    rows.sort()
    return event_protos(rows)


def events_by_execution_ids(ids: Iterable[int]) -> list[Any]:
    return _events_where("execution_id", ids)


def events_by_artifact_ids(ids: Iterable[int]) -> list[Any]:
    return _events_where("artifact_id", ids)


# ---------------------------------------------------------------------------- membership


def put_attributions_and_associations(attributions: Sequence[Any], associations: Sequence[Any]) -> None:
    """Link artifacts and executions to contexts; a link that exists already is kept as is."""
    link_attributions([(a.context_id, a.artifact_id) for a in attributions], check=True)
    link_associations([(a.context_id, a.execution_id) for a in associations], check=True)


def _link(model: type, node_model: type, node_field: str, pairs: Sequence[tuple[int, int]], check: bool) -> None:
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        return
    context_ids = {c for c, _ in pairs}
    node_ids = {n for _, n in pairs}
    if check:
        known_contexts = sql.existing_ids(Context, context_ids)
        known_nodes = sql.existing_ids(node_model, node_ids)
        for context_id, node_id in pairs:
            if context_id not in known_contexts:
                raise InvalidArgument(f"no context with id {context_id}")
            if node_id not in known_nodes:
                raise InvalidArgument(f"no {node_model.__name__.lower()} with id {node_id}")
    # A link that exists already is kept: the insert skips rows its unique key refuses.
    sql.insert(model, ("context_id", f"{node_field}_id"), pairs, skip_duplicates=True)


def link_attributions(pairs: Sequence[tuple[int, int]], *, check: bool = False) -> None:
    """(context id, artifact id) pairs."""
    _link(Attribution, Artifact, "artifact", pairs, check)


def link_associations(pairs: Sequence[tuple[int, int]], *, check: bool = False) -> None:
    """(context id, execution id) pairs."""
    _link(Association, Execution, "execution", pairs, check)


# ---------------------------------------------------------------------------- parent contexts


def put_parent_contexts(links: Sequence[Any]) -> None:
    """Record child → parent links; refuses missing contexts, duplicates and cycles."""
    pairs: list[tuple[int, int]] = []
    for position, link in enumerate(links):
        label = f"ParentContext #{position}"
        if not link.HasField("child_id") or not link.HasField("parent_id"):
            raise InvalidArgument(f"{label}: both child_id and parent_id are required")
        if link.child_id == link.parent_id:
            raise InvalidArgument(f"{label}: context {link.child_id} cannot be its own parent")
        pairs.append((link.child_id, link.parent_id))
    ids = {i for pair in pairs for i in pair}
    known = set(Context.objects.filter(id__in=ids).values_list("id", flat=True))
    for child, parent in pairs:
        for node in (child, parent):
            if node not in known:
                raise InvalidArgument(f"ParentContext ({child} → {parent}): no context with id {node}")
    existing = set(
        ParentContext.objects.filter(context_id__in={c for c, _ in pairs}).values_list("context_id", "parent_id")
    )
    seen: set[tuple[int, int]] = set()
    for pair in pairs:
        if pair in existing or pair in seen:
            raise AlreadyExists(f"context {pair[1]} is already a parent of context {pair[0]}")
        seen.add(pair)
    for child, parent in pairs:
        if child in ancestors([parent]):
            raise InvalidArgument(f"making {parent} a parent of {child} would make {child} its own ancestor")
        ParentContext.objects.create(context_id=child, parent_id=parent)


def ancestors(context_ids: Iterable[int]) -> set[int]:
    """Every ancestor of the given contexts: one query per generation, no hop limit."""
    found: set[int] = set()
    frontier = set(context_ids)
    while frontier:
        parents = set(ParentContext.objects.filter(context_id__in=frontier).values_list("parent_id", flat=True))
        frontier = parents - found
        found |= parents
    return found


def parents_by_contexts(context_ids: Sequence[int]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = defaultdict(list)
    for child, parent in ParentContext.objects.filter(context_id__in=list(context_ids)).order_by("parent_id").values_list(
        "context_id", "parent_id"
    ):
        result[child].append(parent)
    return result


def children_by_contexts(context_ids: Sequence[int]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = defaultdict(list)
    for child, parent in ParentContext.objects.filter(parent_id__in=list(context_ids)).order_by("context_id").values_list(
        "context_id", "parent_id"
    ):
        result[parent].append(child)
    return result
