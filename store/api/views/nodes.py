"""artifacts, executions, contexts: list, retrieve, create (bulk), partial update; their extra actions."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from google.protobuf import field_mask_pb2
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from store.api import serializers as s
from store.api.errors import NotFoundError
from store.api.filters import NodeFilterSet
from store.api.messages import node_messages, patch_message
from store.api.pagination import list_options, page
from store.api.schema import ID_PARAMETER, IDEMPOTENCY_PARAMETER, node_filter_parameters
from store.api.shapes import node_json, nodes_json
from store.api.views import runs
from store.api.views.base import (
    StoreViewSet,
    by_position,
    path_id,
    store_call,
    validated,
    validated_items,
    write_response,
)
from store.choices import ArtifactState
from store.proto import metadata_store_service_pb2 as svc
from store.services.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind
from store.services.listing import list_nodes
from store.services.nodes import nodes_by_ids


def ordered_nodes(kind: NodeKind, ids: list[int]) -> list[Any]:
    by_id = {m.id: m for m in nodes_by_ids(kind, ids)}
    return [by_id[i] for i in ids if i in by_id]


class _NodeViewSet(StoreViewSet):
    kind: NodeKind
    in_serializer: type[serializers.Serializer]
    patch_serializer: type[serializers.Serializer]
    bulk_actions = ("create",)

    @property
    def _plural(self) -> str:
        return f"{self.kind.name}s"

    def _node_id(self, raw: Any) -> tuple[int, int]:
        """(id, type_id) of the node in the URL, or 404."""
        node_id = path_id(raw, self.kind.name)
        type_id = self.kind.model.objects.filter(id=node_id).values_list("type_id", flat=True).first()
        if type_id is None:
            raise NotFoundError(f"no {self.kind.name} with id {node_id}", "id")
        return node_id, type_id

    def _one(self, node_id: int) -> dict[str, Any]:
        return node_json(self.kind, ordered_nodes(self.kind, [node_id])[0])

    def list(self, request: Request) -> Response:
        query = request.query_params
        queryset, scope = NodeFilterSet(self.kind).apply(self.kind.model.objects.all(), query)
        found, token = list_nodes(self.kind, lambda: queryset, list_options(query), scope=f"rest:{scope}")
        return Response(page(request, nodes_json(self.kind, found), token))

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        node_id, _type_id = self._node_id(pk)
        return Response(self._one(node_id))

    def create(self, request: Request) -> Response:
        data, many = validated_items(self.in_serializer, request)

        def write() -> tuple[int, Any]:
            messages = node_messages(self.kind, data, indexed=many)
            method = f"Put{self.kind.label}s"
            response = store_call(method, getattr(svc, f"{method}Request")(**{self._plural: messages}), by_position(many))
            ids = list(getattr(response, f"{self.kind.name}_ids"))
            body = nodes_json(self.kind, ordered_nodes(self.kind, ids))
            return 201, (body if many else body[0])

        return write_response(request, write)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        node_id, type_id = self._node_id(pk)
        data = validated(self.patch_serializer, request.data)

        def write() -> tuple[int, Any]:
            message, mask = patch_message(self.kind, node_id, type_id, data)
            if mask:
                self._update(message, mask, check_time="last_update_time_since_epoch" in data)
            return 200, self._one(node_id)

        return write_response(request, write)

    def _update(self, message: Any, mask: Sequence[str], *, check_time: bool = False) -> None:
        method = f"Put{self.kind.label}s"
        request_message = getattr(svc, f"{method}Request")(
            **{self._plural: [message]}, update_mask=field_mask_pb2.FieldMask(paths=list(mask))
        )
        if check_time:
            request_message.options.abort_if_latest_updated_time_changed = True
        store_call(method, request_message)


def _node_schema(kind_name: str, node_in: Any, patch: Any, out: Any, **extra: Any) -> Any:
    tag = f"{kind_name}s"
    return extend_schema_view(
        list=extend_schema(
            tags=[tag],
            summary=f"List {kind_name}s",
            parameters=node_filter_parameters(kind_name),
            responses=s.page_of(out, f"{out.__name__[:-3]}Page"),
        ),
        retrieve=extend_schema(tags=[tag], summary=f"One {kind_name}", parameters=[ID_PARAMETER], responses=out),
        create=extend_schema(
            tags=[tag],
            summary=f"Create {kind_name}s (one object, or a list: all or none)",
            parameters=[IDEMPOTENCY_PARAMETER],
            request=node_in,
            responses={201: out},
        ),
        partial_update=extend_schema(
            tags=[tag],
            summary=f"Update some fields of a {kind_name}",
            description="Only the fields given change; a property given as null is removed.",
            parameters=[ID_PARAMETER, IDEMPOTENCY_PARAMETER],
            request=patch,
            responses=out,
        ),
        **extra,
    )


_LINEAGE_PARAMETERS = [
    ID_PARAMETER,
    OpenApiParameter("direction", str, enum=["upstream", "downstream", "both"], description="Default both."),
    OpenApiParameter("hops", int, description=f"Events to follow at most (default {runs.DEFAULT_HOPS}, at most {runs.MAX_HOPS})."),
]


@_node_schema(
    "artifact",
    s.ArtifactIn,
    s.ArtifactPatch,
    s.ArtifactOut,
    destroy=extend_schema(
        tags=["artifacts"],
        summary="Mark an artifact DELETED (MLMD's state; nothing is removed)",
        parameters=[ID_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={200: s.ArtifactOut},
    ),
    lineage=extend_schema(
        tags=["artifacts"],
        summary="The artifact's lineage: nodes and edges",
        parameters=_LINEAGE_PARAMETERS,
        responses=s.GraphOut,
    ),
)
class ArtifactViewSet(_NodeViewSet):
    kind = ARTIFACT
    in_serializer = s.ArtifactIn
    patch_serializer = s.ArtifactPatch

    def destroy(self, request: Request, pk: Any = None) -> Response:
        node_id, type_id = self._node_id(pk)

        def write() -> tuple[int, Any]:
            message = ARTIFACT.proto(id=node_id, type_id=type_id, state=ArtifactState.DELETED)
            self._update(message, ["state"])
            return 200, self._one(node_id)

        return write_response(request, write)

    @action(detail=True, methods=["get"])
    def lineage(self, request: Request, pk: Any = None) -> Response:
        node_id, _type_id = self._node_id(pk)
        return Response(runs.artifact_lineage(node_id, request.query_params))


@_node_schema(
    "execution",
    s.ExecutionIn,
    s.ExecutionPatch,
    s.ExecutionOut,
    record=extend_schema(
        tags=["executions"],
        summary="Record a run in one request: execution, inputs, outputs, contexts (atomic)",
        description=(
            "One PutExecution: the execution (type by name), events to its inputs (existing artifacts by id or uri),"
            " its outputs (new artifacts) with output events, and its contexts (by id, or type and name:"
            " created when missing). Send an Idempotency-Key header to make retries safe."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=s.RecordIn,
        responses={201: s.RecordOut},
        examples=[
            OpenApiExample(
                "Trainer run",
                request_only=True,
                value={
                    "execution": {"type": "Trainer", "properties": {"train_steps": 1000}, "state": "COMPLETE"},
                    "inputs": [{"id": 12}, {"uri": "s3://bucket/transform/1"}],
                    "outputs": [{"type": "Model", "uri": "s3://m/1", "properties": {"framework": "tensorflow"}}],
                    "contexts": [{"type": "Experiment", "name": "exp-7"}, {"type": "PipelineRun", "name": "run-42"}],
                },
            ),
            OpenApiExample(
                "A step without inputs",
                request_only=True,
                value={
                    "execution": {"type": "ExampleGen", "name": "run-42-examplegen", "state": "COMPLETE"},
                    "outputs": [
                        {"type": "Examples", "uri": "s3://bucket/examples/1", "path": [{"key": "examples"}, {"index": 0}]}
                    ],
                    "contexts": [{"type": "PipelineRun", "name": "run-42"}],
                },
            ),
        ],
    ),
    lookup=extend_schema(
        tags=["executions"],
        summary="Cache lookup: earlier finished runs of this step on the same inputs and properties",
        request=s.LookupIn,
        responses=s.LookupOut,
    ),
)
class ExecutionViewSet(_NodeViewSet):
    kind = EXECUTION
    in_serializer = s.ExecutionIn
    patch_serializer = s.ExecutionPatch
    read_actions = ("lookup",)

    @action(detail=False, methods=["post"])
    def record(self, request: Request) -> Response:
        data = validated(s.RecordIn, request.data)
        return write_response(request, lambda: (201, runs.record(data)))

    @action(detail=False, methods=["post"])
    def lookup(self, request: Request) -> Response:
        data = validated(s.LookupIn, request.data)
        return Response(runs.lookup(data))


@_node_schema(
    "context",
    s.ContextIn,
    s.ContextPatch,
    s.ContextOut,
    graph=extend_schema(
        tags=["contexts"],
        summary="The context's execution DAG: its executions, their artifacts and events",
        parameters=[ID_PARAMETER],
        responses=s.GraphOut,
    ),
    run=extend_schema(
        tags=["contexts"],
        summary="Staff: delete the context's run for good, and say what was removed",
        description=(
            "Removes the context, its executions, their events and the artifacts only they produced"
            " (artifacts another execution also used are kept). ?dry_run=true only reports."
        ),
        parameters=[ID_PARAMETER, OpenApiParameter("dry_run", bool)],
        responses={200: s.RunDeletionOut},
    ),
)
class ContextViewSet(_NodeViewSet):
    kind = CONTEXT
    in_serializer = s.ContextIn
    patch_serializer = s.ContextPatch
    staff_actions = ("run",)

    @action(detail=True, methods=["get"])
    def graph(self, request: Request, pk: Any = None) -> Response:
        node_id, _type_id = self._node_id(pk)
        return Response(runs.context_graph(node_id))

    @action(detail=True, methods=["delete"])
    def run(self, request: Request, pk: Any = None) -> Response:
        node_id, _type_id = self._node_id(pk)
        dry_run = runs.flag(request.query_params, "dry_run")
        return write_response(request, lambda: (200, runs.delete_run(node_id, dry_run=dry_run)))
