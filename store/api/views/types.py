"""artifact-types, execution-types, context-types: list, retrieve, create (bulk), add properties."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from store.api import serializers as s
from store.api.errors import NotFoundError
from store.api.messages import DATA_TYPE_BY_NAME
from store.api.pagination import check_parameters, id_page, page
from store.api.schema import ID_ORDERING, ID_PARAMETER, IDEMPOTENCY_PARAMETER, PAGING_PARAMETERS
from store.api.shapes import BASE_TYPES, type_json
from store.api.views.base import (
    StoreViewSet,
    by_position,
    path_id,
    store_call,
    validated,
    validated_items,
    write_response,
)
from store.choices import TypeKind
from store.models import Type
from store.proto import metadata_store_service_pb2 as svc
from store.services.kinds import KIND_BY_TYPE_KIND
from store.services.types import type_protos

_PLURAL = {TypeKind.ARTIFACT: "artifact_types", TypeKind.EXECUTION: "execution_types", TypeKind.CONTEXT: "context_types"}
_LABEL = {TypeKind.ARTIFACT: "artifact type", TypeKind.EXECUTION: "execution type", TypeKind.CONTEXT: "context type"}


def type_message(kind: TypeKind, data: dict[str, Any]) -> Any:
    message = KIND_BY_TYPE_KIND[kind].type_proto(name=data["name"])
    if data.get("version"):
        message.version = data["version"]
    if data.get("description") is not None:
        message.description = data["description"]
    if data.get("external_id"):
        message.external_id = data["external_id"]
    base = BASE_TYPES[kind][data.get("base_type") or "UNSET"]
    if base:
        message.base_type = base
    for name, data_type in (data.get("properties") or {}).items():
        message.properties[name] = DATA_TYPE_BY_NAME[data_type]
    return message


class _TypeViewSet(StoreViewSet):
    kind: TypeKind
    in_serializer: type[serializers.Serializer]
    bulk_actions = ("create",)

    def _json(self, rows: list[Type]) -> list[dict[str, Any]]:
        return [type_json(self.kind, m) for m in type_protos(rows)]

    def _get(self, raw_id: Any) -> Type:
        type_id = path_id(raw_id, _LABEL[self.kind])
        row = Type.objects.filter(kind=self.kind, id=type_id).first()
        if row is None:
            raise NotFoundError(f"no {_LABEL[self.kind]} with id {type_id}", "id")
        return row

    def list(self, request: Request) -> Response:
        query = request.query_params
        check_parameters(query, {"name", "version"})
        queryset = Type.objects.filter(kind=self.kind)
        if "name" in query:
            queryset = queryset.filter(name=query["name"])
        if "version" in query:
            queryset = queryset.filter(version=query["version"])
        rows, token = id_page(queryset, query, f"types:{self.kind}:{query.get('name')}:{query.get('version')}")
        return Response(page(request, self._json(rows), token))

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return Response(self._json([self._get(pk)])[0])

    def create(self, request: Request) -> Response:
        data, many = validated_items(self.in_serializer, request)

        def write() -> tuple[int, Any]:
            keys = {(d["name"], d.get("version") or "") for d in data}
            existed = {(t.name, t.version) for t in Type.objects.filter(kind=self.kind, name__in={k[0] for k in keys})}
            request_message = svc.PutTypesRequest(**{_PLURAL[self.kind]: [type_message(self.kind, d) for d in data]})
            response = store_call("PutTypes", request_message, by_position(many))
            ids = list(getattr(response, f"{_PLURAL[self.kind][:-1]}_ids"))
            rows = {t.id: t for t in Type.objects.filter(id__in=ids)}
            body = self._json([rows[i] for i in ids])
            created = any(k not in existed for k in keys)
            return (201 if created else 200), (body if many else body[0])

        return write_response(request, write)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        row = self._get(pk)
        data = validated(s.TypePatchSerializer, request.data)

        def write() -> tuple[int, Any]:
            [current] = type_protos([row])
            for name, data_type in data["properties"].items():
                current.properties[name] = DATA_TYPE_BY_NAME[data_type]
            label = {TypeKind.ARTIFACT: "Artifact", TypeKind.EXECUTION: "Execution", TypeKind.CONTEXT: "Context"}[self.kind]
            message = getattr(svc, f"Put{label}TypeRequest")(can_add_fields=True, can_omit_fields=True)
            getattr(message, _PLURAL[self.kind][:-1]).CopyFrom(current)
            store_call(f"Put{label}Type", message)
            return 200, self._json([row])[0]

        return write_response(request, write)


def _type_schema(in_serializer: type[serializers.Serializer], out: type[serializers.Serializer], label: str) -> Any:
    tag = f"{label}-types"
    return extend_schema_view(
        list=extend_schema(
            tags=[tag],
            summary=f"List {label} types",
            parameters=[OpenApiParameter("name", str), OpenApiParameter("version", str), *PAGING_PARAMETERS, ID_ORDERING],
            responses=s.page_of(out, f"{out.__name__[:-3]}Page"),
        ),
        retrieve=extend_schema(tags=[tag], summary=f"One {label} type", parameters=[ID_PARAMETER], responses=out),
        create=extend_schema(
            tags=[tag],
            summary=f"Register {label} types (one object, or a list)",
            description="Re-registering an identical type answers it (200); a different declaration of the same name is 409.",
            parameters=[IDEMPOTENCY_PARAMETER],
            request=in_serializer,
            responses={200: out, 201: out},
        ),
        partial_update=extend_schema(
            tags=[tag],
            summary=f"Add properties to a {label} type",
            parameters=[ID_PARAMETER, IDEMPOTENCY_PARAMETER],
            request=s.TypePatchSerializer,
            responses=out,
        ),
    )


@_type_schema(s.ArtifactTypeSerializer, s.ArtifactTypeOut, "artifact")
class ArtifactTypeViewSet(_TypeViewSet):
    kind = TypeKind.ARTIFACT
    in_serializer = s.ArtifactTypeSerializer


@_type_schema(s.ExecutionTypeSerializer, s.ExecutionTypeOut, "execution")
class ExecutionTypeViewSet(_TypeViewSet):
    kind = TypeKind.EXECUTION
    in_serializer = s.ExecutionTypeSerializer


@_type_schema(s.ContextTypeSerializer, s.ContextTypeOut, "context")
class ContextTypeViewSet(_TypeViewSet):
    kind = TypeKind.CONTEXT
    in_serializer = s.ContextTypeSerializer
