"""The request-level core: every MetadataStoreService method, one transaction each.

``call(method, request)`` is what every way into the store uses: the gRPC
servicer, the in-process ``MetadataStore`` and the REST API.  Each handler
parses the request, calls the concept services and shapes the response; the
rules themselves live in those services.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError

from store.choices import TypeKind
from store.models import Artifact, Association, Attribution, Context
from store.proto import metadata_store_service_pb2 as svc
from store.services import executions, graph_jobs, lineage, nodes, relations, sql, types
from store.services.errors import InvalidArgument, MetadataStoreError, NotFound, Unimplemented
from store.services.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind
from store.services.listing import Scope, list_nodes
from store.services.retry import run_read, run_with_retry
from store.services.transactions import translate_database_error

logger = logging.getLogger("store.api")

Handler = Callable[[Any], Any]
_HANDLERS: dict[str, tuple[Handler, bool]] = {}


def handler(name: str, *, writes: bool = False) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        _HANDLERS[name] = (function, writes)
        return function

    return register


def methods() -> list[str]:
    return sorted(_HANDLERS)


def call(method: str, request: Any) -> Any:
    """Run one MetadataStoreService method in one transaction on the current database."""
    try:
        function, writes = _HANDLERS[method]
    except KeyError:
        raise Unimplemented(f"{method} is not a MetadataStoreService method") from None

    def run() -> Any:
        response = function(request)
        if writes:
            # Inside the transaction: the drawings of the contexts this write changed
            # are refreshed once it commits (nothing is sent for a write that rolls back).
            graph_jobs.after_write(method, request, response)
        return response

    try:
        # A deadlock or lock timeout re-runs the whole transaction (a few times) before ABORTED.
        if writes:
            return run_with_retry(run)
        return run_read(run)
    except MetadataStoreError:
        raise
    except DatabaseError as exc:
        raise translate_database_error(exc, method) from exc
    except RecursionError as exc:
        raise InvalidArgument(f"{method}: the request nests too deeply") from exc


def _options(request: Any, field: str = "options") -> Any | None:
    return getattr(request, field) if request.HasField(field) else None


# ---------------------------------------------------------------------------- types

_TYPE_KINDS = (
    ("Artifact", TypeKind.ARTIFACT, "artifact_type", "artifact_types"),
    ("Execution", TypeKind.EXECUTION, "execution_type", "execution_types"),
    ("Context", TypeKind.CONTEXT, "context_type", "context_types"),
)


def _register_type_handlers(label: str, kind: TypeKind, single: str, plural: str) -> None:
    response_cls = getattr(svc, f"Put{label}TypeResponse")

    def put(request: Any) -> Any:
        if not request.HasField(single):
            raise InvalidArgument(f"Put{label}Type: no {single} is given")
        type_id = types.put_type(
            kind,
            getattr(request, single),
            can_add_fields=request.can_add_fields,
            can_omit_fields=request.can_omit_fields,
            can_delete_fields=request.can_delete_fields,
        )
        return response_cls(type_id=type_id)

    def get(request: Any) -> Any:
        response = getattr(svc, f"Get{label}TypeResponse")()
        getattr(response, single).CopyFrom(types.get_type(kind, request.type_name, request.type_version))
        return response

    def get_by_id(request: Any) -> Any:
        response = getattr(svc, f"Get{label}TypesByIDResponse")()
        getattr(response, plural).extend(types.get_types_by_id(kind, request.type_ids))
        return response

    def get_all(request: Any) -> Any:
        response = getattr(svc, f"Get{label}TypesResponse")()
        getattr(response, plural).extend(types.get_types(kind))
        return response

    def get_by_external_ids(request: Any) -> Any:
        response = getattr(svc, f"Get{label}TypesByExternalIdsResponse")()
        found = types.get_types_by_external_ids(kind, request.external_ids)
        if not found:  # MLMD answers NOT_FOUND rather than an empty list
            raise NotFound("No types found for external_ids.")
        getattr(response, plural).extend(found)
        return response

    handler(f"Put{label}Type", writes=True)(put)
    handler(f"Get{label}Type")(get)
    handler(f"Get{label}TypesByID")(get_by_id)
    handler(f"Get{label}Types")(get_all)
    handler(f"Get{label}TypesByExternalIds")(get_by_external_ids)


for _args in _TYPE_KINDS:
    _register_type_handlers(*_args)


@handler("PutTypes", writes=True)
def _put_types(request: Any) -> Any:
    response = svc.PutTypesResponse()
    flags = {
        "can_add_fields": request.can_add_fields,
        "can_omit_fields": request.can_omit_fields,
        "can_delete_fields": request.can_delete_fields,
    }
    for _label, kind, _single, plural in _TYPE_KINDS:
        ids = getattr(response, f"{plural[:-1]}_ids")
        for message in getattr(request, plural):
            ids.append(types.put_type(kind, message, **flags))
    return response


# ---------------------------------------------------------------------------- node writes


def _register_node_put(label: str, kind: NodeKind, plural: str) -> None:
    """Put{Artifacts,Executions,Contexts}: insert or update, with MLMD's field mask."""
    response_cls = getattr(svc, f"Put{label}sResponse")

    def put(request: Any) -> Any:
        # Only PutArtifactsRequest has options (abort_if_latest_updated_time_changed).
        options = _options(request) if kind is ARTIFACT else None
        ids = nodes.put_nodes(
            kind,
            getattr(request, plural),
            update_mask=list(request.update_mask.paths) if request.HasField("update_mask") else (),
            abort_if_latest_updated_time_changed=bool(options and options.abort_if_latest_updated_time_changed),
        )
        return response_cls(**{f"{kind.name}_ids": ids})

    handler(f"Put{label}s", writes=True)(put)


for _label, _kind, _plural in (("Artifact", ARTIFACT, "artifacts"), ("Execution", EXECUTION, "executions"), ("Context", CONTEXT, "contexts")):
    _register_node_put(_label, _kind, _plural)


@handler("PutEvents", writes=True)
def _put_events(request: Any) -> Any:
    relations.put_events(request.events)
    return svc.PutEventsResponse()


@handler("PutExecution", writes=True)
def _put_execution(request: Any) -> Any:
    execution_id, artifact_ids, context_ids = executions.put_execution(request)
    return svc.PutExecutionResponse(execution_id=execution_id, artifact_ids=artifact_ids, context_ids=context_ids)


@handler("PutLineageSubgraph", writes=True)
def _put_lineage_subgraph(request: Any) -> Any:
    execution_ids, artifact_ids, context_ids = executions.put_lineage_subgraph(request)
    return svc.PutLineageSubgraphResponse(
        execution_ids=execution_ids, artifact_ids=artifact_ids, context_ids=context_ids
    )


@handler("PutAttributionsAndAssociations", writes=True)
def _put_attributions_and_associations(request: Any) -> Any:
    relations.put_attributions_and_associations(request.attributions, request.associations)
    return svc.PutAttributionsAndAssociationsResponse()


@handler("PutParentContexts", writes=True)
def _put_parent_contexts(request: Any) -> Any:
    relations.put_parent_contexts(request.parent_contexts)
    return svc.PutParentContextsResponse()


# ---------------------------------------------------------------------------- node reads

_NODE_KINDS = (("Artifact", ARTIFACT, "artifacts"), ("Execution", EXECUTION, "executions"), ("Context", CONTEXT, "contexts"))


def _register_node_reads(label: str, kind: NodeKind, plural: str) -> None:
    def get_all(request: Any) -> Any:
        response = getattr(svc, f"Get{label}sResponse")()
        _, token = list_nodes(
            kind, kind.model.objects.all, _options(request), into=getattr(response, plural), plain=Scope()
        )
        if token:
            response.next_page_token = token
        return response

    def get_by_type(request: Any) -> Any:
        response = getattr(svc, f"Get{label}sByTypeResponse")()
        type_id = nodes.type_id_of(kind, request.type_name, request.type_version)
        if type_id is None:
            return response
        _, token = list_nodes(
            kind,
            lambda: kind.model.objects.filter(type_id=type_id),
            _options(request),
            scope=f"type:{request.type_name}:{request.type_version}",
            into=getattr(response, plural),
            plain=Scope(where="n.type_id = %s", params=(type_id,)),
        )
        if token:
            response.next_page_token = token
        return response

    def get_by_type_and_name(request: Any) -> Any:
        response = getattr(svc, f"Get{label}ByTypeAndNameResponse")()
        if not request.type_name or not getattr(request, f"{kind.name}_name"):
            return response
        found = nodes.node_by_type_and_name(
            kind, request.type_name, request.type_version, getattr(request, f"{kind.name}_name")
        )
        if found is not None:
            getattr(response, kind.name).CopyFrom(found)
        return response

    def get_by_external_ids(request: Any) -> Any:
        response = getattr(svc, f"Get{label}sByExternalIdsResponse")()
        found = nodes.nodes_by_external_ids(kind, list(request.external_ids))
        if not found:  # MLMD answers NOT_FOUND rather than an empty list
            raise NotFound(f"No {plural} found for external_ids.")
        getattr(response, plural).extend(found)
        return response

    handler(f"Get{label}s")(get_all)
    handler(f"Get{label}sByType")(get_by_type)
    handler(f"Get{label}ByTypeAndName")(get_by_type_and_name)
    handler(f"Get{label}sByExternalIds")(get_by_external_ids)


for _args2 in _NODE_KINDS:
    _register_node_reads(*_args2)


@handler("GetArtifactsByID")
def _get_artifacts_by_id(request: Any) -> Any:
    response = svc.GetArtifactsByIDResponse()
    found = nodes.nodes_by_ids(ARTIFACT, request.artifact_ids, into=response.artifacts)
    if request.populate_artifact_types:
        response.artifact_types.extend(types.get_types_by_id(TypeKind.ARTIFACT, {a.type_id for a in found}))
    return response


@handler("GetExecutionsByID")
def _get_executions_by_id(request: Any) -> Any:
    response = svc.GetExecutionsByIDResponse()
    nodes.nodes_by_ids(EXECUTION, request.execution_ids, into=response.executions)
    return response


@handler("GetContextsByID")
def _get_contexts_by_id(request: Any) -> Any:
    response = svc.GetContextsByIDResponse()
    nodes.nodes_by_ids(CONTEXT, request.context_ids, into=response.contexts)
    return response


@handler("GetArtifactsByURI")
def _get_artifacts_by_uri(request: Any) -> Any:
    uris = list(request.uris)
    rows = Artifact.objects.filter(uri__in=uris).order_by("id") if uris else Artifact.objects.none()
    return svc.GetArtifactsByURIResponse(artifacts=nodes.node_protos(ARTIFACT, rows))


@handler("GetEventsByExecutionIDs")
def _get_events_by_execution_ids(request: Any) -> Any:
    return svc.GetEventsByExecutionIDsResponse(events=relations.events_by_execution_ids(request.execution_ids))


@handler("GetEventsByArtifactIDs")
def _get_events_by_artifact_ids(request: Any) -> Any:
    return svc.GetEventsByArtifactIDsResponse(events=relations.events_by_artifact_ids(request.artifact_ids))


# ---------------------------------------------------------------------------- contexts and membership


@handler("GetContextsByArtifact")
def _get_contexts_by_artifact(request: Any) -> Any:
    rows = Context.objects.filter(attributions__artifact_id=request.artifact_id).order_by("id")
    found = nodes.node_protos(CONTEXT, rows)
    if not found:  # MLMD answers NOT_FOUND rather than an empty list
        raise NotFound(f"No contexts found for artifact_id: {request.artifact_id}")
    return svc.GetContextsByArtifactResponse(contexts=found)


@handler("GetContextsByExecution")
def _get_contexts_by_execution(request: Any) -> Any:
    rows = Context.objects.filter(associations__execution_id=request.execution_id).order_by("id")
    found = nodes.node_protos(CONTEXT, rows)
    if not found:  # MLMD answers NOT_FOUND rather than an empty list
        raise NotFound(f"No contexts found for execution_id: {request.execution_id}")
    return svc.GetContextsByExecutionResponse(contexts=found)


@handler("GetParentContextsByContext")
def _get_parent_contexts_by_context(request: Any) -> Any:
    rows = Context.objects.filter(child_links__context_id=request.context_id).order_by("id")
    return svc.GetParentContextsByContextResponse(contexts=nodes.node_protos(CONTEXT, rows))


@handler("GetChildrenContextsByContext")
def _get_children_contexts_by_context(request: Any) -> Any:
    rows = Context.objects.filter(parent_links__parent_id=request.context_id).order_by("id")
    return svc.GetChildrenContextsByContextResponse(contexts=nodes.node_protos(CONTEXT, rows))


def _linked_contexts(context_ids: list[int], links: dict[int, list[int]], response: Any, field: str) -> Any:
    linked = {i for ids in links.values() for i in ids}
    by_id = {c.id: c for c in nodes.nodes_by_ids(CONTEXT, linked)}
    for context_id in context_ids:
        if links.get(context_id):
            getattr(response.contexts[context_id], field).extend(by_id[i] for i in links[context_id] if i in by_id)
    return response


@handler("GetParentContextsByContexts")
def _get_parent_contexts_by_contexts(request: Any) -> Any:
    ids = list(request.context_ids)
    return _linked_contexts(ids, relations.parents_by_contexts(ids), svc.GetParentContextsByContextsResponse(), "parent_contexts")


@handler("GetChildrenContextsByContexts")
def _get_children_contexts_by_contexts(request: Any) -> Any:
    ids = list(request.context_ids)
    return _linked_contexts(ids, relations.children_by_contexts(ids), svc.GetChildrenContextsByContextsResponse(), "children_contexts")


def _register_by_context(label: str, kind: NodeKind, plural: str, link: type, lookup: str) -> None:
    """Get{Artifacts,Executions}ByContext: the members of a context, paged."""
    response_cls = getattr(svc, f"Get{label}sByContextResponse")

    def get(request: Any) -> Any:
        response = response_cls()
        _, token = list_nodes(
            kind,
            lambda: kind.model.objects.filter(**{f"{lookup}__context_id": request.context_id}),
            _options(request),
            scope=f"context:{request.context_id}",
            into=getattr(response, plural),
            plain=Scope(
                joins=f"JOIN {sql.table(link)} m ON m.{kind.name}_id = n.id",
                where="m.context_id = %s",
                params=(request.context_id,),
            ),
        )
        if token:
            response.next_page_token = token
        return response

    handler(f"Get{label}sByContext")(get)


_register_by_context("Artifact", ARTIFACT, "artifacts", Attribution, "attributions")
_register_by_context("Execution", EXECUTION, "executions", Association, "associations")


# ---------------------------------------------------------------------------- lineage


@handler("GetLineageGraph")
def _get_lineage_graph(request: Any) -> Any:
    response = svc.GetLineageGraphResponse()
    response.subgraph.CopyFrom(lineage.lineage_graph(request.options))
    return response


@handler("GetLineageSubgraph")
def _get_lineage_subgraph(request: Any) -> Any:
    response = svc.GetLineageSubgraphResponse()
    paths = list(request.read_mask.paths) if request.HasField("read_mask") else []
    # Nodes by id alone, as ml-metadata answers: its clients read the nodes they want by id afterwards.
    graph = lineage.lineage_subgraph(request.lineage_subgraph_query_options, paths, node_details=False)
    response.lineage_subgraph.CopyFrom(graph)
    return response
