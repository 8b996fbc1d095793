"""Recording runs: put_execution and put_lineage_subgraph, each atomic.

Both write nodes, the events between them and their context memberships in
the request's single transaction: either the whole run is recorded or nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError

from store.models import Artifact, Context
from store.proto import metadata_store_pb2 as pb
from store.services import nodes, relations, sql
from store.services.errors import InvalidArgument, MetadataStoreError
from store.services.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind
from store.services.nodes import put_nodes
from store.services.transactions import now_ms, savepoint
from store.services.types import prefetch_declarations


def _reuse_artifacts_by_external_id(artifacts: Sequence[Any]) -> list[Any]:
    """Give artifacts without an id the id of a stored artifact with the same external_id."""
    wanted = [a.external_id for a in artifacts if not a.HasField("id") and a.external_id]
    if not wanted:
        return list(artifacts)
    found: dict[str, int] = {}
    for chunk in sql.chunks(sorted(set(wanted))):
        found.update(
            sql.fetchall(
                f"SELECT external_id, id FROM {sql.table(Artifact)} WHERE external_id IN ({sql.marks(len(chunk))})", chunk
            )
        )
    result = []
    for artifact in artifacts:
        if not artifact.HasField("id") and artifact.external_id in found:
            artifact = _copy(artifact)
            artifact.id = found[artifact.external_id]
        result.append(artifact)
    return result


def _copy(message: Any) -> Any:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone


def _context_id_by_type_and_name(type_id: int, name: str) -> int | None:
    rows = sql.fetchall(f"SELECT id FROM {sql.table(Context)} WHERE type_id = %s AND name = %s", [type_id, name])
    return rows[0][0] if rows else None


def put_contexts_for_run(
    contexts: Sequence[Any], *, reuse_existing: bool, force_reuse: bool, declarations: dict[Any, Any] | None = None
) -> list[int]:
    """Upsert the contexts of a run.

    ``reuse_existing``: a new context whose (type, name) exists takes the stored
    one, even when another writer creates it at the same moment.
    ``force_reuse``: a context given by id is used as stored, not updated.
    """
    ids: list[int | None] = [None] * len(contexts)
    to_put: list[tuple[int, Any]] = []
    for position, context in enumerate(contexts):
        if context.HasField("id") and force_reuse:
            if not sql.fetchall(f"SELECT id FROM {sql.table(Context)} WHERE id = %s", [context.id]):
                raise InvalidArgument(f"Context #{position}: no context with id {context.id}")
            ids[position] = context.id
            continue
        if not context.HasField("id") and reuse_existing:
            existing = _context_id_by_type_and_name(context.type_id, context.name)
            if existing is not None:
                ids[position] = existing
                continue
            ids[position] = _create_or_reuse_context(context, position, declarations)
            continue
        to_put.append((position, context))
    if to_put:
        put_ids = put_nodes(CONTEXT, [c for _, c in to_put], declarations=declarations)
        for (position, _), context_id in zip(to_put, put_ids, strict=True):
            ids[position] = context_id
    return [i for i in ids if i is not None]


def _create_or_reuse_context(context: Any, position: int, declarations: dict[Any, Any] | None) -> int:
    """Insert a context; if a concurrent writer inserted the same (type, name) first, take that one."""
    try:
        with savepoint():
            return put_nodes(CONTEXT, [context], declarations=declarations)[0]
    except IntegrityError:
        existing = _context_id_by_type_and_name(context.type_id, context.name)
        if existing is None:
            raise
        return existing


def put_execution(request: Any) -> tuple[int, list[int], list[int]]:
    """MLMD's PutExecution: an execution, its artifacts with events, and its contexts."""
    options = request.options
    if not request.HasField("execution"):
        raise InvalidArgument("PutExecution: no execution is given")
    pairs = list(request.artifact_event_pairs)
    # The types of the request, all kinds, in one query.
    declarations: dict[Any, Any] = prefetch_declarations(
        [request.execution.type_id]
        + [p.artifact.type_id for p in pairs if p.HasField("artifact")]
        + [c.type_id for c in request.contexts]
    )
    recorded = _record_new_run(request, pairs, declarations)
    if recorded is not None:
        return recorded
    execution_is_new = not request.execution.HasField("id")
    [execution_id] = put_nodes(
        EXECUTION, [request.execution], force_update_time=options.force_update_time, declarations=declarations
    )

    artifacts = [p.artifact for p in pairs if p.HasField("artifact")]
    if options.reuse_artifact_if_already_exist_by_external_id:
        artifacts = _reuse_artifacts_by_external_id(artifacts)
    artifact_ids = (
        put_nodes(ARTIFACT, artifacts, force_update_time=options.force_update_time, declarations=declarations)
        if artifacts
        else []
    )

    events = []
    artifact_iter = iter(artifact_ids)
    for position, pair in enumerate(pairs):
        artifact_id = next(artifact_iter) if pair.HasField("artifact") else None
        if not pair.HasField("event"):
            continue
        event = _copy(pair.event)
        if artifact_id is not None:
            if event.HasField("artifact_id") and event.artifact_id != artifact_id:
                raise InvalidArgument(
                    f"PutExecution: pair #{position}: the event's artifact_id {event.artifact_id}"
                    f" differs from its artifact's id {artifact_id}"
                )
            event.artifact_id = artifact_id
        elif not event.HasField("artifact_id"):
            raise InvalidArgument(f"PutExecution: pair #{position}: an event without an artifact needs an artifact_id")
        if event.HasField("execution_id") and event.execution_id != execution_id:
            raise InvalidArgument(
                f"PutExecution: pair #{position}: the event's execution_id {event.execution_id}"
                f" differs from the execution's id {execution_id}"
            )
        event.execution_id = execution_id
        events.append(event)
    new_executions = [execution_id] if execution_is_new else []
    relations.put_events(
        events,
        skip_existing=True,
        known_artifacts=artifact_ids,
        known_executions=[execution_id],
        new_executions=new_executions,
    )

    context_ids = put_contexts_for_run(
        request.contexts,
        reuse_existing=options.reuse_context_if_already_exist,
        force_reuse=options.force_reuse_context,
        declarations=declarations,
    )
    linked_artifacts = artifact_ids + [e.artifact_id for e in events]
    relations.link_attributions([(c, a) for c in context_ids for a in dict.fromkeys(linked_artifacts)])
    relations.link_associations([(c, execution_id) for c in context_ids])
    return execution_id, artifact_ids, context_ids


def _record_new_run(
    request: Any, pairs: list[Any], declarations: dict[Any, Any]
) -> tuple[int, list[int], list[int]] | None:
    """PutExecution for what a pipeline step sends when it finishes, written in one pass.

    That is a new execution; its input artifacts given back by id as stored,
    new output artifacts, each with its event; its contexts given back by id
    as stored.  What the general path does for it (put_nodes for each kind,
    put_events, the context upserts) comes down to one insert per table; the
    bookkeeping around them was about a tenth of the call's CPU in-process.

    Any other request, or one that the checks refuse, gives None before
    anything is written: the general path then does the work and raises its
    own errors, so both paths refuse alike.
    """
    options = request.options
    execution = request.execution
    if (
        options.reuse_artifact_if_already_exist_by_external_id
        or options.force_reuse_context
        or options.force_update_time
        or execution.HasField("id")
        or not execution.HasField("type_id")
    ):
        return None
    new_artifacts, given_artifacts = [], []
    for pair in pairs:
        if not pair.HasField("artifact") or not pair.HasField("event"):
            return None
        event = pair.event
        if event.HasField("artifact_id") or event.HasField("execution_id") or event.type == pb.Event.UNKNOWN:
            return None
        (given_artifacts if pair.artifact.HasField("id") else new_artifacts).append(pair.artifact)
    contexts = list(request.contexts)
    if any(not c.HasField("id") for c in contexts):
        return None
    stored_artifacts = nodes.find_unchanged(ARTIFACT, given_artifacts) if given_artifacts else {}
    stored_contexts = nodes.find_unchanged(CONTEXT, contexts) if contexts else {}
    if len(stored_artifacts) != len(given_artifacts) or len(stored_contexts) != len(contexts):
        return None  # an update, a node given twice, a missing node: the general path's business
    types = {kind: _types(kind, declarations) for kind in (EXECUTION, ARTIFACT, CONTEXT)}
    try:
        _check(EXECUTION, [execution], {}, types[EXECUTION])
        _check(ARTIFACT, new_artifacts, {}, types[ARTIFACT])
        _check(ARTIFACT, given_artifacts, stored_artifacts, types[ARTIFACT])
        _check(CONTEXT, contexts, stored_contexts, types[CONTEXT])
        event_paths = [relations.path_json_text(pair.event) for pair in pairs]
    except MetadataStoreError:
        return None

    now = now_ms()
    [execution_id] = nodes.insert_new(EXECUTION, [execution], types[EXECUTION], now)
    new_ids = iter(nodes.insert_new(ARTIFACT, new_artifacts, types[ARTIFACT], now))
    artifact_ids = [pair.artifact.id if pair.artifact.HasField("id") else next(new_ids) for pair in pairs]
    relations.insert_events(
        [
            relations.event_row(pair.event, artifact_id, execution_id, now, path)
            for artifact_id, pair, path in zip(artifact_ids, pairs, event_paths, strict=True)
        ]
    )
    context_ids = [c.id for c in contexts]
    relations.link_attributions([(c, a) for c in context_ids for a in dict.fromkeys(artifact_ids)])
    relations.link_associations([(c, execution_id) for c in context_ids])
    return execution_id, artifact_ids, context_ids


def _types(kind: NodeKind, declarations: dict[Any, Any]) -> dict[int, Any]:
    """{type id: declarations} of ``kind``'s types among the request's."""
    return {type_id: declared for (type_kind, type_id), declared in declarations.items() if type_kind == kind.type_kind}


def _check(kind: NodeKind, messages: list[Any], stored: dict[int, Any], types: dict[int, Any]) -> None:
    """``nodes.check_node`` for new nodes (``stored`` empty) or nodes given back as stored."""
    for position, message in enumerate(messages):
        type_id = stored[message.id].type_id if message.HasField("id") else message.type_id
        nodes.check_node(kind, f"{kind.label} #{position}", message, types, type_id)


def put_lineage_subgraph(request: Any) -> tuple[list[int], list[int], list[int]]:
    """MLMD's PutLineageSubgraph: contexts, nodes, then the events between them.

    An edge names its execution and artifact by index into the request's lists
    or, when an index is absent, by the id its event carries.  Everything runs
    in the request's transaction, so a bad edge found after the nodes were
    written still leaves the store unchanged.
    """
    options = request.options
    artifacts = list(request.artifacts)
    if options.reuse_artifact_if_already_exist_by_external_id:
        artifacts = _reuse_artifacts_by_external_id(artifacts)
    declarations: dict[Any, Any] = prefetch_declarations(
        [n.type_id for n in (*request.contexts, *request.executions, *artifacts)]
    )
    context_ids = put_contexts_for_run(
        request.contexts,
        reuse_existing=options.reuse_context_if_already_exist,
        force_reuse=False,
        declarations=declarations,
    )
    executions = list(request.executions)
    execution_ids = put_nodes(EXECUTION, executions, declarations=declarations)
    artifact_ids = put_nodes(ARTIFACT, artifacts, declarations=declarations)
    new_executions = {i for e, i in zip(executions, execution_ids, strict=True) if not e.HasField("id")}

    events = []
    for position, edge in enumerate(request.event_edges):
        label = f"PutLineageSubgraph: event edge #{position}"
        if not edge.HasField("event"):
            raise InvalidArgument(f"{label} has no event")
        event = _copy(edge.event)
        event.execution_id = _edge_end(label, "execution", edge, event, execution_ids)
        event.artifact_id = _edge_end(label, "artifact", edge, event, artifact_ids)
        if not event.HasField("type"):
            event.type = pb.Event.UNKNOWN
        events.append(event)
    relations.put_events(
        events,
        skip_existing=True,
        known_artifacts=artifact_ids,
        known_executions=execution_ids,
        new_executions=new_executions,
    )
    relations.link_attributions([(c, a) for c in context_ids for a in dict.fromkeys(artifact_ids)])
    relations.link_associations([(c, e) for c in context_ids for e in dict.fromkeys(execution_ids)])
    return execution_ids, artifact_ids, context_ids


def _edge_end(label: str, end: str, edge: Any, event: Any, ids: list[int]) -> int:
    """The id of one end of an event edge: by index into the request, else from the event itself."""
    index_field, id_field = f"{end}_index", f"{end}_id"
    if edge.HasField(index_field):
        index = getattr(edge, index_field)
        if not 0 <= index < len(ids):
            raise InvalidArgument(f"{label}: {index_field} {index} is outside the request's {len(ids)} {end}s")
        node_id = ids[index]
        if event.HasField(id_field) and getattr(event, id_field) != node_id:
            raise InvalidArgument(
                f"{label}: the event's {id_field} {getattr(event, id_field)} differs from the {end} at {index_field} {index}"
            )
        return node_id
    if not event.HasField(id_field):
        raise InvalidArgument(f"{label}: neither {index_field} nor the event's {id_field} is given")
    return getattr(event, id_field)
