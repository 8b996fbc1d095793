"""Edges: events, attributions, associations and parent contexts."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from store.models import Artifact, Association, Attribution, Context, Event, Execution, ParentContext
from store.proto import metadata_store_pb2 as pb
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


def put_events(events: Sequence[Any], *, skip_existing: bool = False) -> list[Event]:
    """Record events.  Both ends must exist; an event type is required.

    A repeated (artifact, execution, type) is ALREADY_EXISTS, as in MLMD, unless
    ``skip_existing`` (used by put_execution, where re-recording the same run is
    harmless).
    """
    if not events:
        return []
    artifact_ids = {e.artifact_id for e in events if e.HasField("artifact_id")}
    execution_ids = {e.execution_id for e in events if e.HasField("execution_id")}
    known_artifacts = set(Artifact.objects.filter(id__in=artifact_ids).values_list("id", flat=True))
    known_executions = set(Execution.objects.filter(id__in=execution_ids).values_list("id", flat=True))
    existing = set(
        Event.objects.filter(artifact_id__in=artifact_ids, execution_id__in=execution_ids).values_list(
            "artifact_id", "execution_id", "type"
        )
    )
    rows: list[Event] = []
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
        if event.artifact_id not in known_artifacts:
            raise InvalidArgument(f"{label}: no artifact with id {event.artifact_id}")
        if event.execution_id not in known_executions:
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
        rows.append(
            Event(
                artifact_id=event.artifact_id,
                execution_id=event.execution_id,
                type=event.type,
                milliseconds_since_epoch=event.milliseconds_since_epoch
                if event.HasField("milliseconds_since_epoch")
                else now,
                path=_path_json(event),
            )
        )
    Event.objects.bulk_create(rows, batch_size=1000)
    return rows


def event_protos(rows: Iterable[Event]) -> list[Any]:
    result = []
    for row in rows:
        event = pb.Event(
            artifact_id=row.artifact_id,
            execution_id=row.execution_id,
            type=row.type,
            milliseconds_since_epoch=row.milliseconds_since_epoch,
        )
        if row.path is not None:
            event.path.SetInParent()
            for step in row.path:
                if "index" in step:
                    event.path.steps.add().index = step["index"]
                else:
                    event.path.steps.add().key = step["key"]
        result.append(event)
    return result


def events_by_execution_ids(ids: Iterable[int]) -> list[Any]:
    return event_protos(Event.objects.filter(execution_id__in=list(ids)).order_by("id"))


def events_by_artifact_ids(ids: Iterable[int]) -> list[Any]:
    return event_protos(Event.objects.filter(artifact_id__in=list(ids)).order_by("id"))


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
        known_contexts = set(Context.objects.filter(id__in=context_ids).values_list("id", flat=True))
        known_nodes = set(node_model.objects.filter(id__in=node_ids).values_list("id", flat=True))
        for context_id, node_id in pairs:
            if context_id not in known_contexts:
                raise InvalidArgument(f"no context with id {context_id}")
            if node_id not in known_nodes:
                raise InvalidArgument(f"no {node_model.__name__.lower()} with id {node_id}")
    existing = set(
        model.objects.filter(context_id__in=context_ids, **{f"{node_field}_id__in": node_ids}).values_list(
            "context_id", f"{node_field}_id"
        )
    )
    model.objects.bulk_create(
        [model(context_id=c, **{f"{node_field}_id": n}) for c, n in pairs if (c, n) not in existing],
        batch_size=1000,
    )


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
