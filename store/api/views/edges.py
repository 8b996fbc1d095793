"""events, attributions, associations, parent-contexts: list, retrieve, create (bulk).

Edges are immutable in MLMD: there is no update or delete of one (a hard
delete of a whole run removes them with it).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db.models import Model, Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from store.api import serializers as s
from store.api.errors import BadRequest, NotFoundError
from store.api.messages import EVENT_TYPE_BY_NAME, context_id_of, event_message
from store.api.pagination import check_parameters, id_page, page
from store.api.schema import ID_ORDERING, ID_PARAMETER, IDEMPOTENCY_PARAMETER, PAGING_PARAMETERS
from store.api.shapes import event_row_json
from store.api.views.base import StoreViewSet, by_position, path_id, store_call, validated_items, write_response
from store.models import Association, Attribution, Event, ParentContext
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc

IdFilters = Mapping[str, str]  # query parameter -> model field
Key = tuple[int, ...]  # what identifies an edge: (artifact, execution, type), (context, artifact)...


class _EdgeViewSet(StoreViewSet):
    model: type[Model]
    label: str
    in_serializer: type[serializers.Serializer]
    id_filters: IdFilters
    bulk_actions = ("create",)

    def to_json(self, row: Any) -> dict[str, Any]:
        raise NotImplementedError

    def filter_extra(self, queryset: QuerySet[Any], query: Mapping[str, str]) -> QuerySet[Any]:
        return queryset

    def extra_parameters(self) -> set[str]:
        return set()

    def list(self, request: Request) -> Response:
        query = request.query_params
        check_parameters(query, set(self.id_filters) | self.extra_parameters())
        queryset = self.model.objects.all()  # type: ignore[attr-defined]
        for parameter, field in self.id_filters.items():
            if parameter in query:
                queryset = queryset.filter(**{field: _query_id(query[parameter], parameter)})
        queryset = self.filter_extra(queryset, query)
        scope = f"{self.label}:" + ",".join(f"{k}={query.get(k)}" for k in sorted(set(self.id_filters) | self.extra_parameters()))
        rows, token = id_page(queryset, query, scope)
        return Response(page(request, [self.to_json(r) for r in rows], token))

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        row_id = path_id(pk, self.label)
        row = self.model.objects.filter(id=row_id).first()  # type: ignore[attr-defined]
        if row is None:
            raise NotFoundError(f"no {self.label} with id {row_id}", "id")
        return Response(self.to_json(row))

    def create(self, request: Request) -> Response:
        data, many = validated_items(self.in_serializer, request)

        def write() -> tuple[int, Any]:
            keys = self.put(data, many)
            rows = self.rows_for(keys)
            body = [self.to_json(rows[k]) for k in keys]
            return 201, (body if many else body[0])

        return write_response(request, write)

    def put(self, data: Sequence[dict[str, Any]], many: bool) -> Sequence[Key]:
        raise NotImplementedError

    def rows_for(self, keys: Sequence[Key]) -> dict[Key, Any]:
        raise NotImplementedError


def _query_id(raw: str, parameter: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) <= 2**63 - 1:
        raise BadRequest(f"{parameter} must be a positive integer id, not {raw[:40]!r}", parameter)
    return int(raw)


def _rows_by(model: type[Model], fields: tuple[str, ...], keys: Sequence[Key]) -> dict[Key, Any]:
    condition = Q()
    for key in set(keys):
        condition |= Q(**dict(zip(fields, key, strict=True)))
    rows = model.objects.filter(condition) if keys else []  # type: ignore[attr-defined]
    return {tuple(getattr(r, f) for f in fields): r for r in rows}


def _edge_schema(label: str, in_serializer: Any, out: Any, filters: list[OpenApiParameter]) -> Callable[[type], type]:
    tag = f"{label}s".replace(" ", "-")
    return extend_schema_view(
        list=extend_schema(
            tags=[tag],
            summary=f"List {label}s",
            parameters=[*filters, *PAGING_PARAMETERS, ID_ORDERING],
            responses=s.page_of(out, f"{out.__name__[:-3]}Page"),
        ),
        retrieve=extend_schema(tags=[tag], summary=f"One {label}", parameters=[ID_PARAMETER], responses=out),
        create=extend_schema(
            tags=[tag],
            summary=f"Record {label}s (one object, or a list: all or none)",
            parameters=[IDEMPOTENCY_PARAMETER],
            request=in_serializer,
            responses={201: out},
        ),
    )


@_edge_schema(
    "event",
    s.EventIn,
    s.EventOut,
    [
        OpenApiParameter("artifact_id", int),
        OpenApiParameter("execution_id", int),
        OpenApiParameter("type", str, description="Event type name(s), comma-separated."),
    ],
)
class EventViewSet(_EdgeViewSet):
    model = Event
    label = "event"
    in_serializer = s.EventIn
    id_filters = {"artifact_id": "artifact_id", "execution_id": "execution_id"}

    def extra_parameters(self) -> set[str]:
        return {"type"}

    def filter_extra(self, queryset: QuerySet[Any], query: Mapping[str, str]) -> QuerySet[Any]:
        if "type" not in query:
            return queryset
        wanted = []
        for name in (p.strip().upper() for p in query["type"].split(",")):
            if name not in EVENT_TYPE_BY_NAME:
                raise BadRequest(f"type {name!r} is not one of {list(EVENT_TYPE_BY_NAME)}", "type")
            wanted.append(EVENT_TYPE_BY_NAME[name])
        return queryset.filter(type__in=wanted)

    def to_json(self, row: Event) -> dict[str, Any]:
        return event_row_json(row)

    def put(self, data: Sequence[dict[str, Any]], many: bool) -> Sequence[Key]:
        events = [event_message(d) for d in data]
        store_call("PutEvents", svc.PutEventsRequest(events=events), by_position(many))
        return [(e.artifact_id, e.execution_id, e.type) for e in events]

    def rows_for(self, keys: Sequence[Key]) -> dict[Key, Any]:
        return _rows_by(Event, ("artifact_id", "execution_id", "type"), keys)


@_edge_schema(
    "attribution",
    s.AttributionIn,
    s.AttributionOut,
    [OpenApiParameter("context_id", int), OpenApiParameter("artifact_id", int)],
)
class AttributionViewSet(_EdgeViewSet):
    model = Attribution
    label = "attribution"
    in_serializer = s.AttributionIn
    id_filters = {"context_id": "context_id", "artifact_id": "artifact_id"}

    def to_json(self, row: Attribution) -> dict[str, Any]:
        return {"id": row.id, "context_id": row.context_id, "artifact_id": row.artifact_id}

    def put(self, data: Sequence[dict[str, Any]], many: bool) -> Sequence[Key]:
        links = [pb.Attribution(context_id=d["context_id"], artifact_id=d["artifact_id"]) for d in data]
        store_call("PutAttributionsAndAssociations", svc.PutAttributionsAndAssociationsRequest(attributions=links))
        return [(d["context_id"], d["artifact_id"]) for d in data]

    def rows_for(self, keys: Sequence[Key]) -> dict[Key, Any]:
        return _rows_by(Attribution, ("context_id", "artifact_id"), keys)


@_edge_schema(
    "association",
    s.AssociationIn,
    s.AssociationOut,
    [OpenApiParameter("context_id", int), OpenApiParameter("execution_id", int)],
)
class AssociationViewSet(_EdgeViewSet):
    model = Association
    label = "association"
    in_serializer = s.AssociationIn
    id_filters = {"context_id": "context_id", "execution_id": "execution_id"}

    def to_json(self, row: Association) -> dict[str, Any]:
        return {"id": row.id, "context_id": row.context_id, "execution_id": row.execution_id}

    def put(self, data: Sequence[dict[str, Any]], many: bool) -> Sequence[Key]:
        links = [pb.Association(context_id=d["context_id"], execution_id=d["execution_id"]) for d in data]
        store_call("PutAttributionsAndAssociations", svc.PutAttributionsAndAssociationsRequest(associations=links))
        return [(d["context_id"], d["execution_id"]) for d in data]

    def rows_for(self, keys: Sequence[Key]) -> dict[Key, Any]:
        return _rows_by(Association, ("context_id", "execution_id"), keys)


@_edge_schema(
    "parent context",
    s.ParentContextIn,
    s.ParentContextOut,
    [OpenApiParameter("child_id", int), OpenApiParameter("parent_id", int)],
)
class ParentContextViewSet(_EdgeViewSet):
    model = ParentContext
    label = "parent context"
    in_serializer = s.ParentContextIn
    id_filters = {"child_id": "context_id", "parent_id": "parent_id"}

    def to_json(self, row: ParentContext) -> dict[str, Any]:
        return {"id": row.id, "child_id": row.context_id, "parent_id": row.parent_id}

    def put(self, data: Sequence[dict[str, Any]], many: bool) -> Sequence[Key]:
        pairs: list[Key] = []
        for position, item in enumerate(data):
            prefix = f"[{position}]." if many else ""
            child = item["child_id"] if "child_id" in item else context_id_of(item["child"], f"{prefix}child")
            parent = item["parent_id"] if "parent_id" in item else context_id_of(item["parent"], f"{prefix}parent")
            pairs.append((child, parent))
        links = [pb.ParentContext(child_id=c, parent_id=p) for c, p in pairs]
        store_call("PutParentContexts", svc.PutParentContextsRequest(parent_contexts=links), by_position(many))
        return pairs

    def rows_for(self, keys: Sequence[Key]) -> dict[Key, Any]:
        return _rows_by(ParentContext, ("context_id", "parent_id"), keys)
