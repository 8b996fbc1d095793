"""Reads for the lineage dashboard: what each page shows, in a fixed number of queries.

Every function here answers one page (or one part of a page) with a number of
queries that does not grow with the number of rows: nodes come with their type
in one query, their property values in one more, edges in one more.  Results
are plain dataclasses the templates read directly; nothing here knows about
requests, URLs or HTML (``lineage_ui`` does).

Graph data comes in two sizes: :func:`context_lineage` / :func:`lineage_around`
load the nodes and events of a graph to draw it; :func:`context_type_counts`
counts the same graph by type with GROUP BY queries only, for the summary drawn
when a graph is too large to lay out in a request (and for any size of context,
in constant time).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from store.choices import (
    BASE_TYPE_CHOICES,
    INPUT_EVENT_TYPES,
    OUTPUT_EVENT_TYPES,
    ArtifactBaseType,
    ArtifactState,
    EventType,
    ExecutionState,
    PropertyType,
    TypeKind,
)
from store.models import (
    Artifact,
    ArtifactProperty,
    Association,
    Attribution,
    Context,
    ContextProperty,
    Event,
    Execution,
    ExecutionProperty,
    Node,
    ParentContext,
    ParentType,
    PropertyValue,
    Type,
    TypeProperty,
)
from store.services import cache as cache_service
from store.services import lineage as lineage_service
from store.services.errors import InvalidArgument, NotFound
from store.services.filter_query import FilterQueryError, filter_nodes
from store.services.values import row_python_value

KIND_NAMES = ("artifact", "execution", "context")
_MODELS: dict[str, type[Node]] = {"artifact": Artifact, "execution": Execution, "context": Context}
_PROPERTY_MODELS: dict[str, tuple[type[PropertyValue], str]] = {
    "artifact": (ArtifactProperty, "artifact_id"),
    "execution": (ExecutionProperty, "execution_id"),
    "context": (ContextProperty, "context_id"),
}
_TYPE_KIND = {"artifact": TypeKind.ARTIFACT, "execution": TypeKind.EXECUTION, "context": TypeKind.CONTEXT}
_KIND_OF_TYPE = {v: k for k, v in _TYPE_KIND.items()}
_VALUE_COLUMN = {
    PropertyType.INT: "int_value",
    PropertyType.DOUBLE: "double_value",
    PropertyType.STRING: "string_value",
    PropertyType.BOOLEAN: "bool_value",
}

# A search or filter text is taken as an MLMD filter query when it has an operator in it.
_FILTER_QUERY_HINT = re.compile(
    r"(!=|<>|<=|>=|=|<|>|\bLIKE\b|\bIN\s*\(|\bIS\s+(NOT\s+)?NULL\b|\bAND\b|\bOR\b)", re.IGNORECASE
)
_ID_TEXT = re.compile(r"^#?\s*(\d{1,18})$")
_MODEL_NAME = re.compile(r"model", re.IGNORECASE)
_NOT_MODEL_NAME = re.compile(r"(evaluat|metric|statistic|blessing|validat|analys)", re.IGNORECASE)


# ---------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class TypeRef:
    id: int
    kind: str
    name: str
    version: str = ""
    base_type: int = 0

    @property
    def base_type_label(self) -> str:
        if not self.base_type:
            return ""
        try:
            return str(BASE_TYPE_CHOICES[_TYPE_KIND[self.kind]](self.base_type).label)
        except ValueError:
            return str(self.base_type)

    @property
    def display(self) -> str:
        return f"{self.name} (v{self.version})" if self.version else self.name

    @property
    def is_model(self) -> bool:
        """A model type: base type MODEL, or no base type and a name that says model (not an evaluation of one)."""
        if self.kind != "artifact":
            return False
        if self.base_type == ArtifactBaseType.MODEL:
            return True
        return (
            self.base_type == ArtifactBaseType.UNSET
            and bool(_MODEL_NAME.search(self.name))
            and not (_NOT_MODEL_NAME.search(self.name))
        )

    @property
    def is_dataset(self) -> bool:
        return self.kind == "artifact" and (
            self.base_type == ArtifactBaseType.DATASET
            or re.search(r"(data|example|split|table|corpus)", self.name, re.I) is not None
        )


def _type_ref(row: Type) -> TypeRef:
    return TypeRef(
        id=row.id, kind=_KIND_OF_TYPE[TypeKind(row.kind)], name=row.name, version=row.version, base_type=row.base_type
    )


@dataclass
class NodeRow:
    """An artifact, execution or context as the pages show it."""

    kind: str
    id: int
    name: str | None
    type: TypeRef
    external_id: str | None = None
    uri: str | None = None
    state: str = ""
    create_ms: int = 0
    update_ms: int = 0
    properties: dict[str, Any] = field(default_factory=dict)
    custom_properties: dict[str, Any] = field(default_factory=dict)
    # Filled by some queries only:
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.uri:
            return uri_label(self.uri)
        return f"{self.kind} {self.id}"

    @property
    def duration_ms(self) -> int | None:
        if self.kind != "execution" or not self.create_ms or not self.update_ms:
            return None
        return max(self.update_ms - self.create_ms, 0)

    @property
    def failed(self) -> bool:
        return self.kind == "execution" and self.state == "FAILED"

    def property(self, name: str) -> Any:
        if name in self.properties:
            return self.properties[name]
        return self.custom_properties.get(name)


def uri_label(uri: str) -> str:
    """A short name for an unnamed artifact: the URI's last part (two parts when the last is very short)."""
    parts = [p for p in uri.rstrip("/").split("/") if p]
    if not parts:
        return uri
    if len(parts[-1]) < 4 and len(parts) > 1 and not parts[-2].endswith(":"):
        return "/".join(parts[-2:])
    return parts[-1]


def _state_label(kind: str, value: int | None) -> str:
    if value is None:
        return ""
    choices = ArtifactState if kind == "artifact" else ExecutionState
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def _node_rows(kind: str, queryset: Iterable[Node], *, with_properties: bool = True) -> list[NodeRow]:
    """Rows of one kind (the queryset should select_related the type) with properties in one query."""
    rows: list[NodeRow] = []
    for node in queryset:
        state_value = getattr(node, "state", None) if kind == "artifact" else getattr(node, "last_known_state", None)
        rows.append(
            NodeRow(
                kind=kind,
                id=node.id,
                name=node.name,
                type=_type_ref(node.type),
                external_id=node.external_id,
                uri=getattr(node, "uri", None),
                state=_state_label(kind, state_value) if kind != "context" else "",
                create_ms=node.create_time_since_epoch,
                update_ms=node.last_update_time_since_epoch,
            )
        )
    if with_properties and rows:
        _attach_properties(kind, rows)
    return rows


def _attach_properties(kind: str, rows: list[NodeRow]) -> None:
    model, fk = _PROPERTY_MODELS[kind]
    by_id = {row.id: row for row in rows}
    for prop in model.objects.filter(**{f"{fk}__in": list(by_id)}).order_by("name"):
        row = by_id[getattr(prop, fk)]
        target = row.custom_properties if prop.is_custom else row.properties
        target[prop.name] = row_python_value(prop)


def _with_type(queryset: QuerySet[Any]) -> QuerySet[Any]:
    return queryset.select_related("type")


def get_node(kind: str, node_id: int) -> NodeRow:
    """One node with its type and properties (NotFound when there is none)."""
    rows = _node_rows(kind, _with_type(_MODELS[kind].objects.filter(id=node_id)))
    if not rows:
        raise NotFound(f"no {kind} with id {node_id}")
    return rows[0]


# ---------------------------------------------------------------------------- home


@dataclass
class TypeCountRow:
    type: TypeRef
    count: int
    failed: int = 0


@dataclass
class Overview:
    totals: dict[str, int]
    by_type: dict[str, list[TypeCountRow]]
    recent_contexts: list[NodeRow]
    recent_executions: list[NodeRow]
    failed_executions: list[NodeRow]

    @property
    def empty(self) -> bool:
        return not any(self.totals.values()) and not any(self.by_type.values())

    @property
    def failed_total(self) -> int:
        return sum(row.failed for row in self.by_type.get("execution", []))


def _counts_by_type(kind: str, queryset: QuerySet[Any] | None = None) -> list[TypeCountRow]:
    """Every type of the kind with how many nodes (of ``queryset``) it has; one query plus one for the types."""
    model = _MODELS[kind]
    queryset = model.objects.all() if queryset is None else queryset
    annotations: dict[str, Any] = {"n": Count("id")}
    if kind == "execution":
        annotations["failed"] = Count("id", filter=Q(last_known_state=ExecutionState.FAILED))
    counts = {row["type_id"]: row for row in queryset.order_by().values("type_id").annotate(**annotations)}
    result = []
    for type_row in Type.objects.filter(kind=_TYPE_KIND[kind]).order_by("name", "version"):
        row = counts.get(type_row.id, {})
        result.append(TypeCountRow(_type_ref(type_row), row.get("n", 0), row.get("failed", 0)))
    return result


def overview(*, recent: int = 8) -> Overview:
    by_type = {kind: _counts_by_type(kind) for kind in KIND_NAMES}
    totals = {kind: sum(r.count for r in rows) for kind, rows in by_type.items()}
    newest = ("-create_time_since_epoch", "-id")
    contexts = _node_rows("context", _with_type(Context.objects.order_by(*newest))[:recent], with_properties=False)
    executions = _node_rows(
        "execution", _with_type(Execution.objects.order_by(*newest))[:recent], with_properties=False
    )
    failed = _node_rows(
        "execution",
        _with_type(Execution.objects.filter(last_known_state=ExecutionState.FAILED).order_by(*newest))[:recent],
        with_properties=False,
    )
    return Overview(totals, by_type, contexts, executions, failed)


# ---------------------------------------------------------------------------- search and filters


def looks_like_filter_query(text: str) -> bool:
    return bool(_FILTER_QUERY_HINT.search(text))


@dataclass
class KindResults:
    kind: str
    rows: list[NodeRow] = field(default_factory=list)
    total: int = 0
    error: str = ""  # the filter query does not apply to this kind (unknown attribute, ...)


@dataclass
class SearchResult:
    text: str
    mode: str  # "empty", "id", "text" or "filter"
    kinds: list[KindResults] = field(default_factory=list)
    error: str = ""  # a syntax error of the filter query (applies to every kind)
    error_position: int | None = None

    @property
    def total(self) -> int:
        return sum(k.total for k in self.kinds)


def _text_condition(kind: str, text: str) -> Q:
    condition = Q(name__icontains=text) | Q(external_id=text)
    if kind == "artifact":
        condition |= Q(uri__icontains=text)
    return condition


def search(text: str, *, limit: int = 25) -> SearchResult:
    """Nodes matching a name, URI, id or MLMD filter query: two queries per kind (count and page), plus properties."""
    text = (text or "").strip()
    if not text:
        return SearchResult(text, "empty")
    id_match = _ID_TEXT.match(text)
    if id_match:
        node_id = int(id_match.group(1))
        result = SearchResult(text, "id")
        for kind in KIND_NAMES:
            rows = _node_rows(kind, _with_type(_MODELS[kind].objects.filter(id=node_id)), with_properties=False)
            result.kinds.append(KindResults(kind, rows, len(rows)))
        return result
    if looks_like_filter_query(text):
        result = SearchResult(text, "filter")
        errors: list[FilterQueryError] = []
        for kind in KIND_NAMES:
            try:
                queryset = filter_nodes(_MODELS[kind].objects.all(), kind, text)
                total = queryset.count()
            except FilterQueryError as exc:
                errors.append(exc)
                result.kinds.append(KindResults(kind, error=exc.message))
                continue
            rows = _node_rows(kind, _with_type(queryset.order_by("-id"))[:limit], with_properties=False)
            result.kinds.append(KindResults(kind, rows, total))
        if len(errors) == len(KIND_NAMES):
            # The same problem for every kind is a problem of the query itself.
            first = min(errors, key=lambda e: e.position)
            result.error = first.message
            result.error_position = first.position
            result.kinds = []
        return result
    result = SearchResult(text, "text")
    for kind in KIND_NAMES:
        queryset = _MODELS[kind].objects.filter(_text_condition(kind, text))
        total = queryset.count()
        rows = _node_rows(kind, _with_type(queryset.order_by("-id"))[:limit], with_properties=False)
        result.kinds.append(KindResults(kind, rows, total))
    return result


def artifact_choices(text: str, *, limit: int = 15) -> list[NodeRow]:
    """Artifacts for the compare page's pickers: by id, name, uri or filter query; newest first."""
    text = (text or "").strip()
    if not text:
        return []
    id_match = _ID_TEXT.match(text)
    if id_match:
        queryset = Artifact.objects.filter(id=int(id_match.group(1)))
    elif looks_like_filter_query(text):
        queryset = filter_nodes(Artifact.objects.all(), "artifact", text)
    else:
        queryset = Artifact.objects.filter(_text_condition("artifact", text))
    return _node_rows("artifact", _with_type(queryset.order_by("-id"))[:limit], with_properties=False)


# ---------------------------------------------------------------------------- node tables by type


SORTS = ("id", "name", "created", "updated", "state", "uri")
_SORT_COLUMNS = {
    "id": "id",
    "name": "name",
    "created": "create_time_since_epoch",
    "updated": "last_update_time_since_epoch",
    "uri": "uri",
}


@dataclass
class NodeTable:
    kind: str
    type: TypeRef
    columns: list[str]  # declared property names, then custom ones
    custom_columns: set[str]
    sortable_columns: set[str]
    page: Page
    rows: list[NodeRow]
    sort: str
    descending: bool
    filter_text: str
    filter_error: str = ""
    filter_error_position: int | None = None
    context: NodeRow | None = None
    parents: dict[int, list[NodeRow]] = field(default_factory=dict)
    children: dict[int, list[NodeRow]] = field(default_factory=dict)


def node_types(kind: str) -> list[TypeCountRow]:
    """The types of one kind with their instance counts."""
    return _counts_by_type(kind)


def get_type(kind: str, type_id: int) -> TypeRef:
    row = Type.objects.filter(id=type_id, kind=_TYPE_KIND[kind]).first()
    if row is None:
        raise NotFound(f"no {kind} type with id {type_id}")
    return _type_ref(row)


def node_table(
    kind: str,
    type_id: int,
    *,
    sort: str = "id",
    descending: bool = False,
    filter_text: str = "",
    page: int = 1,
    per_page: int = 25,
    context_id: int | None = None,
) -> NodeTable:
    """One page of the nodes of a type, with their properties as columns.

    ``sort`` is one of :data:`SORTS` or ``p:<declared property>``; ``filter_text``
    is an MLMD filter query or a piece of a name/URI; ``context_id`` narrows to
    the nodes of one context.
    """
    type_ref = get_type(kind, type_id)
    model = _MODELS[kind]
    prop_model, fk = _PROPERTY_MODELS[kind]
    declared = dict(TypeProperty.objects.filter(type_id=type_id).order_by("name").values_list("name", "data_type"))
    custom = list(
        prop_model.objects.filter(is_custom=True, **{f"{fk[:-3]}__type_id": type_id})
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()[:30]
    )
    queryset: QuerySet[Any] = model.objects.filter(type_id=type_id)
    context = None
    if context_id is not None:
        context = get_node("context", context_id)
        if kind == "artifact":
            queryset = queryset.filter(attributions__context_id=context_id)
        elif kind == "execution":
            queryset = queryset.filter(associations__context_id=context_id)
        else:
            queryset = queryset.filter(parent_links__parent_id=context_id)
    filter_error = ""
    filter_error_position = None
    filter_text = (filter_text or "").strip()
    if filter_text:
        if looks_like_filter_query(filter_text):
            try:
                queryset = filter_nodes(queryset, kind, filter_text)
            except FilterQueryError as exc:
                filter_error, filter_error_position = exc.message, exc.position
                queryset = queryset.none()
        else:
            queryset = queryset.filter(_text_condition(kind, filter_text))

    sortable = {name for name, data_type in declared.items() if data_type in _VALUE_COLUMN}
    order_column: str
    if sort.startswith("p:") and sort[2:] in sortable:
        name = sort[2:]
        queryset = queryset.annotate(
            sort_value=Subquery(
                prop_model.objects.filter(**{fk: OuterRef("pk")}, name=name, is_custom=False).values(
                    _VALUE_COLUMN[PropertyType(declared[name])]
                )[:1]
            )
        )
        order_column = "sort_value"
    elif sort == "state" and kind != "context":
        order_column = "state" if kind == "artifact" else "last_known_state"
    elif sort in _SORT_COLUMNS and (sort != "uri" or kind == "artifact"):
        order_column = _SORT_COLUMNS[sort]
    else:
        sort, order_column = "id", "id"
    prefix = "-" if descending else ""
    if order_column == "id":
        queryset = queryset.order_by(f"{prefix}id")
    else:
        queryset = queryset.order_by(f"{prefix}{order_column}", f"{prefix}id")

    if kind == "execution":
        queryset = queryset.annotate(
            inputs=Coalesce(_event_count(INPUT_EVENT_TYPES), 0, output_field=IntegerField()),
            outputs=Coalesce(_event_count(OUTPUT_EVENT_TYPES), 0, output_field=IntegerField()),
        )
    elif kind == "context":
        queryset = queryset.annotate(
            executions=Coalesce(_member_count(Association), 0, output_field=IntegerField()),
            artifacts=Coalesce(_member_count(Attribution), 0, output_field=IntegerField()),
        )
    paginator = Paginator(_with_type(queryset), per_page)
    try:
        page_obj = paginator.page(page)
    except EmptyPage:
        page_obj = paginator.page(paginator.num_pages)
    nodes = list(page_obj.object_list)
    rows = _node_rows(kind, nodes)
    for row, node in zip(rows, nodes, strict=True):
        for name in ("inputs", "outputs", "executions", "artifacts"):
            if hasattr(node, name):
                row.extra[name] = getattr(node, name)
    table = NodeTable(
        kind=kind,
        type=type_ref,
        columns=list(declared) + [c for c in custom if c not in declared],
        custom_columns={c for c in custom if c not in declared},
        sortable_columns=sortable,
        page=page_obj,
        rows=rows,
        sort=sort,
        descending=descending,
        filter_text=filter_text,
        filter_error=filter_error,
        filter_error_position=filter_error_position,
        context=context,
    )
    if kind == "context" and rows:
        table.parents, table.children = _context_links([r.id for r in rows])
    return table


def _event_count(types: Iterable[int]) -> Subquery:
    return Subquery(
        Event.objects.filter(execution_id=OuterRef("pk"), type__in=list(types))
        .order_by()
        .values("execution_id")
        .annotate(n=Count("id"))
        .values("n")[:1],
        output_field=IntegerField(),
    )


def _member_count(model: type[Association] | type[Attribution]) -> Subquery:
    return Subquery(
        model.objects.filter(context_id=OuterRef("pk"))
        .order_by()
        .values("context_id")
        .annotate(n=Count("id"))
        .values("n")[:1],
        output_field=IntegerField(),
    )


def _context_links(context_ids: Sequence[int]) -> tuple[dict[int, list[NodeRow]], dict[int, list[NodeRow]]]:
    """Parents and children of the given contexts: two queries."""
    parents: dict[int, list[NodeRow]] = defaultdict(list)
    children: dict[int, list[NodeRow]] = defaultdict(list)
    for link in (
        ParentContext.objects.filter(context_id__in=context_ids).select_related("parent__type").order_by("parent_id")
    ):
        parents[link.context_id].extend(_node_rows("context", [link.parent], with_properties=False))
    for link in (
        ParentContext.objects.filter(parent_id__in=context_ids).select_related("context__type").order_by("context_id")
    ):
        children[link.parent_id].extend(_node_rows("context", [link.context], with_properties=False))
    return dict(parents), dict(children)


# ---------------------------------------------------------------------------- context page


@dataclass
class ContextPage:
    context: NodeRow
    declared: list[str]
    parents: list[NodeRow]
    children: list[NodeRow]
    executions: Page
    execution_rows: list[NodeRow]
    artifacts: Page
    artifact_rows: list[NodeRow]
    execution_count: int
    artifact_count: int
    failed_count: int


def _context_artifacts(context_id: int) -> QuerySet[Any]:
    """The context's artifacts: attributed to it, or read or written by its executions."""
    attributed = Attribution.objects.filter(context_id=context_id).values("artifact_id")
    linked = Event.objects.filter(execution__associations__context_id=context_id).values("artifact_id")
    return Artifact.objects.filter(Q(id__in=attributed) | Q(id__in=linked))


def _page(paginator: Paginator, number: int) -> Page:
    try:
        return paginator.page(number)
    except EmptyPage:
        return paginator.page(paginator.num_pages)


def context_page(
    context_id: int, *, execution_page: int = 1, artifact_page: int = 1, per_page: int = 50
) -> ContextPage:
    """Everything the context page shows but the graph: a fixed number of queries."""
    context = get_node("context", context_id)
    declared = list(
        TypeProperty.objects.filter(type_id=context.type.id).order_by("name").values_list("name", flat=True)
    )
    parents, children = _context_links([context_id])
    executions_qs = (
        Execution.objects.filter(associations__context_id=context_id)
        .annotate(
            inputs=Coalesce(_event_count(INPUT_EVENT_TYPES), 0, output_field=IntegerField()),
            outputs=Coalesce(_event_count(OUTPUT_EVENT_TYPES), 0, output_field=IntegerField()),
        )
        .order_by("create_time_since_epoch", "id")
    )
    stats = Execution.objects.filter(associations__context_id=context_id).aggregate(
        n=Count("id"), failed=Count("id", filter=Q(last_known_state=ExecutionState.FAILED))
    )
    execution_pages = Paginator(_with_type(executions_qs), per_page)
    execution_pages.count = stats["n"]  # known already: saves the paginator's COUNT query
    epage = _page(execution_pages, execution_page)
    enodes = list(epage.object_list)
    execution_rows = _node_rows("execution", enodes)
    for row, node in zip(execution_rows, enodes, strict=True):
        row.extra["inputs"] = node.inputs
        row.extra["outputs"] = node.outputs
    artifact_pages = Paginator(
        _with_type(_context_artifacts(context_id).order_by("create_time_since_epoch", "id")), per_page
    )
    apage = _page(artifact_pages, artifact_page)
    artifact_rows = _node_rows("artifact", list(apage.object_list))
    return ContextPage(
        context=context,
        declared=declared,
        parents=parents.get(context_id, []),
        children=children.get(context_id, []),
        executions=epage,
        execution_rows=execution_rows,
        artifacts=apage,
        artifact_rows=artifact_rows,
        execution_count=stats["n"],
        artifact_count=artifact_pages.count,
        failed_count=stats["failed"],
    )


# ---------------------------------------------------------------------------- graph data


@dataclass(frozen=True)
class GraphNodeData:
    kind: str
    id: int
    name: str
    type_id: int
    type_name: str
    base_type: int
    state: str
    uri: str = ""


@dataclass
class LineageData:
    """The nodes and events of a graph to draw (no properties: drawings need names, types and states)."""

    artifacts: list[GraphNodeData] = field(default_factory=list)
    executions: list[GraphNodeData] = field(default_factory=list)
    events: list[tuple[int, int, int]] = field(default_factory=list)  # (artifact id, execution id, event type)
    truncated: bool = False
    focus_artifacts: set[int] = field(default_factory=set)
    focus_executions: set[int] = field(default_factory=set)

    @property
    def size(self) -> int:
        return len(self.artifacts) + len(self.executions)


@dataclass
class TypeCounts:
    """A graph counted by type: nodes per type and events per (execution type, artifact type, direction)."""

    artifacts: list[tuple[int, str, int, int]] = field(default_factory=list)  # type id, name, base type, count
    executions: list[tuple[int, str, int, int]] = field(default_factory=list)  # type id, name, count, failed
    edges: list[tuple[int, int, bool, int]] = field(default_factory=list)  # exec type, artifact type, is_input, count

    @property
    def size(self) -> int:
        return sum(a[3] for a in self.artifacts) + sum(e[2] for e in self.executions)

    @property
    def events(self) -> int:
        return sum(e[3] for e in self.edges)


def _artifact_nodes(queryset: QuerySet[Any]) -> list[GraphNodeData]:
    return [
        GraphNodeData("artifact", i, name or "", t, tname, base, _state_label("artifact", state), uri or "")
        for i, name, uri, state, t, tname, base in queryset.order_by("id").values_list(
            "id", "name", "uri", "state", "type_id", "type__name", "type__base_type"
        )
    ]


def _execution_nodes(queryset: QuerySet[Any]) -> list[GraphNodeData]:
    return [
        GraphNodeData("execution", i, name or "", t, tname, base, _state_label("execution", state))
        for i, name, state, t, tname, base in queryset.order_by("id").values_list(
            "id", "name", "last_known_state", "type_id", "type__name", "type__base_type"
        )
    ]


def context_lineage(context_id: int) -> LineageData:
    """The context's execution DAG: its executions, their artifacts and the events between them (three queries)."""
    data = LineageData()
    data.executions = _execution_nodes(Execution.objects.filter(associations__context_id=context_id))
    data.artifacts = _artifact_nodes(_context_artifacts(context_id))
    data.events = list(
        Event.objects.filter(execution__associations__context_id=context_id)
        .order_by("id")
        .values_list("artifact_id", "execution_id", "type")
    )
    return data


def context_type_counts(context_id: int) -> TypeCounts:
    """The context's DAG counted by type with three GROUP BY queries, whatever its size."""
    counts = TypeCounts()
    counts.executions = [
        (row["type_id"], row["type__name"], row["n"], row["failed"])
        for row in Execution.objects.filter(associations__context_id=context_id)
        .order_by()
        .values("type_id", "type__name")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(last_known_state=ExecutionState.FAILED)))
    ]
    counts.artifacts = [
        (row["type_id"], row["type__name"], row["type__base_type"], row["n"])
        for row in _context_artifacts(context_id)
        .order_by()
        .values("type_id", "type__name", "type__base_type")
        .annotate(n=Count("id"))
    ]
    input_types = [int(t) for t in INPUT_EVENT_TYPES]
    counts.edges = [
        (row["execution__type_id"], row["artifact__type_id"], row["type"] in input_types, row["n"])
        for row in Event.objects.filter(execution__associations__context_id=context_id)
        .order_by()
        .values("execution__type_id", "artifact__type_id", "type")
        .annotate(n=Count("id"))
    ]
    return counts


def lineage_around(
    *,
    artifact_ids: Iterable[int] = (),
    execution_ids: Iterable[int] = (),
    hops: int = 4,
    max_nodes: int = 2000,
) -> LineageData:
    """Nodes upstream and downstream of the starting nodes within ``hops`` events.

    One query per hop and direction (``lineage.walk``), then three to load the
    nodes and events.  At most ``max_nodes`` nodes are collected (``truncated``
    tells when more were reachable).
    """
    start_a, start_e = list(artifact_ids), list(execution_ids)
    up = lineage_service.walk(start_a, start_e, direction=lineage_service.UPSTREAM, max_hops=hops, max_nodes=max_nodes)
    down = lineage_service.walk(
        start_a, start_e, direction=lineage_service.DOWNSTREAM, max_hops=hops, max_nodes=max_nodes
    )
    a_ids = set(up.artifacts) | set(down.artifacts)
    e_ids = set(up.executions) | set(down.executions)
    data = LineageData(truncated=up.truncated or down.truncated)
    data.focus_artifacts = set(start_a)
    data.focus_executions = set(start_e)
    data.artifacts = _artifact_nodes(Artifact.objects.filter(id__in=a_ids)) if a_ids else []
    data.executions = _execution_nodes(Execution.objects.filter(id__in=e_ids)) if e_ids else []
    if a_ids and e_ids:
        data.events = [
            (a, e, t)
            for a, e, t in Event.objects.filter(execution_id__in=e_ids)
            .order_by("id")
            .values_list("artifact_id", "execution_id", "type")
            if a in a_ids
        ]
    return data


def lineage_type_counts(data: LineageData) -> TypeCounts:
    """The same counts as :func:`context_type_counts`, from loaded graph data (no query)."""
    counts = TypeCounts()
    a_types: dict[int, list[Any]] = {}
    for node in data.artifacts:
        entry = a_types.setdefault(node.type_id, [node.type_id, node.type_name, node.base_type, 0])
        entry[3] += 1
    e_types: dict[int, list[Any]] = {}
    for node in data.executions:
        entry = e_types.setdefault(node.type_id, [node.type_id, node.type_name, 0, 0])
        entry[2] += 1
        entry[3] += node.state == "FAILED"
    a_type_of = {n.id: n.type_id for n in data.artifacts}
    e_type_of = {n.id: n.type_id for n in data.executions}
    edges: dict[tuple[int, int, bool], int] = defaultdict(int)
    for a, e, t in data.events:
        if a in a_type_of and e in e_type_of:
            edges[(e_type_of[e], a_type_of[a], t in INPUT_EVENT_TYPES)] += 1
    counts.artifacts = [tuple(v) for v in a_types.values()]  # type: ignore[misc]
    counts.executions = [tuple(v) for v in e_types.values()]  # type: ignore[misc]
    counts.edges = [(e, a, i, n) for (e, a, i), n in edges.items()]
    return counts


# ---------------------------------------------------------------------------- artifact page


@dataclass
class EventRow:
    event_type: str
    path: str
    node: NodeRow  # the execution (on an artifact page) or the artifact (on an execution page)


@dataclass
class ArtifactPage:
    artifact: NodeRow
    declared: list[str]
    producers: list[EventRow]
    consumers: list[EventRow]
    contexts: list[NodeRow]


def _path_text(path: Any) -> str:
    if not path:
        return ""
    parts = []
    for step in path:
        if isinstance(step, dict) and "key" in step:
            parts.append(str(step["key"]))
        elif isinstance(step, dict) and "index" in step:
            parts.append(f"[{step['index']}]")
    return "".join(p if p.startswith("[") else (f".{p}" if i else p) for i, p in enumerate(parts))


def _event_label(value: int) -> str:
    try:
        return str(EventType(value).label)
    except ValueError:
        return str(value)


def _events_of(kind: str, node_id: int) -> tuple[list[EventRow], list[EventRow]]:
    """(inputs, outputs) of an execution, or (producers, consumers) of an artifact: two queries."""
    if kind == "artifact":
        events = list(Event.objects.filter(artifact_id=node_id).order_by("id"))
        other_kind, other_ids = "execution", {e.execution_id for e in events}
    else:
        events = list(Event.objects.filter(execution_id=node_id).order_by("id"))
        other_kind, other_ids = "artifact", {e.artifact_id for e in events}
    others = (
        {
            r.id: r
            for r in _node_rows(
                other_kind, _with_type(_MODELS[other_kind].objects.filter(id__in=other_ids)), with_properties=False
            )
        }
        if other_ids
        else {}
    )
    first: list[EventRow] = []
    second: list[EventRow] = []
    for event in events:
        other = others.get(event.execution_id if kind == "artifact" else event.artifact_id)
        if other is None:
            continue
        row = EventRow(_event_label(event.type), _path_text(event.path), other)
        is_output = event.type in OUTPUT_EVENT_TYPES
        if kind == "artifact":
            (first if is_output else second).append(row)  # producers wrote it, consumers read it
        else:
            (second if is_output else first).append(row)  # inputs, outputs
    return first, second


def _contexts_of(kind: str, node_id: int) -> list[NodeRow]:
    if kind == "artifact":
        queryset = Context.objects.filter(attributions__artifact_id=node_id)
    else:
        queryset = Context.objects.filter(associations__execution_id=node_id)
    return _node_rows("context", _with_type(queryset.order_by("id")), with_properties=False)


def artifact_page(artifact_id: int) -> ArtifactPage:
    artifact = get_node("artifact", artifact_id)
    declared = list(
        TypeProperty.objects.filter(type_id=artifact.type.id).order_by("name").values_list("name", flat=True)
    )
    producers, consumers = _events_of("artifact", artifact_id)
    return ArtifactPage(artifact, declared, producers, consumers, _contexts_of("artifact", artifact_id))


@dataclass
class ImpactRow:
    artifact: NodeRow
    hops: int
    produced_by: list[NodeRow]


@dataclass
class Impact:
    models: list[ImpactRow]
    truncated: bool
    searched: int  # downstream nodes looked at


def impact(artifact_id: int, *, max_nodes: int = 5000, limit: int = 100) -> Impact:
    """Models downstream of an artifact: artifacts whose type's base type is MODEL or whose type name says model."""
    down = lineage_service.walk([artifact_id], [], direction=lineage_service.DOWNSTREAM, max_nodes=max_nodes)
    # max_nodes makes the walk go hop by hop, so every node has its hop number.
    hops: dict[int, int] = {a: h or 0 for a, h in down.artifacts.items() if a != artifact_id}
    if not hops:
        return Impact([], down.truncated, down.size)
    model_types = [t.id for t in Type.objects.filter(kind=TypeKind.ARTIFACT) if _type_ref(t).is_model]
    candidates = Artifact.objects.filter(id__in=list(hops), type_id__in=model_types)
    rows = _node_rows("artifact", _with_type(candidates.order_by("id"))[: limit * 4], with_properties=False)
    rows.sort(key=lambda r: (hops[r.id], r.id))
    rows = rows[:limit]
    producers: dict[int, list[NodeRow]] = defaultdict(list)
    if rows:
        events = list(
            Event.objects.filter(artifact_id__in=[r.id for r in rows], type__in=list(OUTPUT_EVENT_TYPES))
            .select_related("execution__type")
            .order_by("id")
        )
        for event in events:
            producers[event.artifact_id].extend(_node_rows("execution", [event.execution], with_properties=False))
    return Impact(
        [ImpactRow(r, (hops[r.id] + 1) // 2, producers.get(r.id, [])) for r in rows], down.truncated, down.size
    )


# ---------------------------------------------------------------------------- execution page


@dataclass
class ExecutionPage:
    execution: NodeRow
    declared: list[str]
    inputs: list[EventRow]
    outputs: list[EventRow]
    contexts: list[NodeRow]
    earlier_runs: list[tuple[NodeRow, list[NodeRow]]]
    cache_note: str = ""


def execution_page(execution_id: int, *, cache_limit: int = 10) -> ExecutionPage:
    execution = get_node("execution", execution_id)
    declared = list(
        TypeProperty.objects.filter(type_id=execution.type.id).order_by("name").values_list("name", flat=True)
    )
    inputs, outputs = _events_of("execution", execution_id)
    earlier: list[tuple[NodeRow, list[NodeRow]]] = []
    note = ""
    try:
        hits = cache_service.lookup_like(execution_id, limit=cache_limit)
    except InvalidArgument as exc:
        hits, note = [], exc.message
    if hits:
        # Cache hits are messages; show them as rows, with types and states, in two queries.
        e_rows = {
            r.id: r
            for r in _node_rows(
                "execution",
                _with_type(Execution.objects.filter(id__in=[h.execution.id for h in hits])),
                with_properties=False,
            )
        }
        a_ids = {a.id for h in hits for a in h.outputs}
        a_rows = (
            {
                r.id: r
                for r in _node_rows(
                    "artifact", _with_type(Artifact.objects.filter(id__in=a_ids)), with_properties=False
                )
            }
            if a_ids
            else {}
        )
        for hit in hits:
            if hit.execution.id in e_rows:
                earlier.append((e_rows[hit.execution.id], [a_rows[a.id] for a in hit.outputs if a.id in a_rows]))
    return ExecutionPage(execution, declared, inputs, outputs, _contexts_of("execution", execution_id), earlier, note)


# ---------------------------------------------------------------------------- types page


@dataclass
class TypeInfo:
    type: TypeRef
    description: str
    external_id: str
    properties: list[tuple[str, str]]
    parents: list[TypeRef]
    count: int
    failed: int = 0


def types_page() -> dict[str, list[TypeInfo]]:
    """Every type by kind with its declared properties, parent types and instance counts: six queries."""
    types = list(Type.objects.order_by("kind", "name", "version"))
    props: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for type_id, name, data_type in TypeProperty.objects.order_by("type_id", "name").values_list(
        "type_id", "name", "data_type"
    ):
        props[type_id].append((name, str(PropertyType(data_type).label)))
    by_id = {t.id: t for t in types}
    parents: dict[int, list[TypeRef]] = defaultdict(list)
    for type_id, parent_id in ParentType.objects.values_list("type_id", "parent_id"):
        if parent_id in by_id:
            parents[type_id].append(_type_ref(by_id[parent_id]))
    counts: dict[int, dict[str, int]] = {}
    for kind in KIND_NAMES:
        annotations: dict[str, Any] = {"n": Count("id")}
        if kind == "execution":
            annotations["failed"] = Count("id", filter=Q(last_known_state=ExecutionState.FAILED))
        for row in _MODELS[kind].objects.order_by().values("type_id").annotate(**annotations):
            counts[row["type_id"]] = row
    result: dict[str, list[TypeInfo]] = {kind: [] for kind in KIND_NAMES}
    for t in types:
        ref = _type_ref(t)
        row = counts.get(t.id, {})
        result[ref.kind].append(
            TypeInfo(
                ref,
                t.description or "",
                t.external_id or "",
                props[t.id],
                parents[t.id],
                row.get("n", 0),
                row.get("failed", 0),
            )
        )
    return result


# ---------------------------------------------------------------------------- compare


@dataclass
class CompareRow:
    label: str
    a: Any
    b: Any
    in_a: bool = True
    in_b: bool = True
    group: str = ""

    @property
    def differs(self) -> bool:
        # Times are shown for reference: two artifacts are never made at the same millisecond.
        return self.group != "time" and (self.in_a != self.in_b or self.a != self.b)

    @property
    def only(self) -> str:
        if self.in_a and not self.in_b:
            return "a"
        if self.in_b and not self.in_a:
            return "b"
        return ""


@dataclass
class UpstreamRow:
    artifact: NodeRow
    in_a: bool
    in_b: bool

    @property
    def shared(self) -> bool:
        return self.in_a and self.in_b


@dataclass
class Comparison:
    a: NodeRow
    b: NodeRow
    rows: list[CompareRow]
    producer_a: NodeRow | None
    producer_b: NodeRow | None
    producer_rows: list[CompareRow]
    upstream: list[UpstreamRow]
    contexts_a: list[NodeRow]
    contexts_b: list[NodeRow]

    @property
    def differences(self) -> int:
        return sum(r.differs for r in self.rows + self.producer_rows) + sum(not u.shared for u in self.upstream)


def _property_rows(a: NodeRow, b: NodeRow) -> list[CompareRow]:
    rows = []
    for group, source_a, source_b in (
        ("property", a.properties, b.properties),
        ("custom property", a.custom_properties, b.custom_properties),
    ):
        for name in sorted(set(source_a) | set(source_b)):
            rows.append(
                CompareRow(
                    name,
                    source_a.get(name),
                    source_b.get(name),
                    in_a=name in source_a,
                    in_b=name in source_b,
                    group=group,
                )
            )
    return rows


def compare(a_id: int, b_id: int) -> Comparison:
    """Two artifacts side by side: fields, properties, producing executions, upstream inputs, contexts."""
    found = {r.id: r for r in _node_rows("artifact", _with_type(Artifact.objects.filter(id__in={a_id, b_id})))}
    for wanted in (a_id, b_id):
        if wanted not in found:
            raise NotFound(f"no artifact with id {wanted}")
    a, b = found[a_id], found[b_id]
    rows = [
        CompareRow("type", a.type.display, b.type.display, group="field"),
        CompareRow("uri", a.uri or "", b.uri or "", group="field"),
        CompareRow("state", a.state, b.state, group="field"),
        CompareRow("name", a.name or "", b.name or "", group="field"),
        CompareRow("created", a.create_ms, b.create_ms, group="time"),
        CompareRow("last updated", a.update_ms, b.update_ms, group="time"),
    ]
    rows.extend(_property_rows(a, b))

    # Producing executions (the latest output event of each) and their inputs: three queries.
    produced = list(
        Event.objects.filter(artifact_id__in={a_id, b_id}, type__in=list(OUTPUT_EVENT_TYPES))
        .order_by("id")
        .values_list("artifact_id", "execution_id")
    )
    producer_of: dict[int, int] = {}
    for artifact_id, execution_id in produced:
        producer_of[artifact_id] = execution_id
    producers = (
        {
            r.id: r
            for r in _node_rows("execution", _with_type(Execution.objects.filter(id__in=set(producer_of.values()))))
        }
        if producer_of
        else {}
    )
    producer_a = producers.get(producer_of.get(a_id, -1))
    producer_b = producers.get(producer_of.get(b_id, -1))
    producer_rows: list[CompareRow] = []
    if producer_a or producer_b:
        pa = producer_a or NodeRow("execution", 0, None, TypeRef(0, "execution", ""))
        pb_ = producer_b or NodeRow("execution", 0, None, TypeRef(0, "execution", ""))
        producer_rows.append(
            CompareRow(
                "type", pa.type.display, pb_.type.display, in_a=bool(producer_a), in_b=bool(producer_b), group="field"
            )
        )
        producer_rows.append(
            CompareRow("state", pa.state, pb_.state, in_a=bool(producer_a), in_b=bool(producer_b), group="field")
        )
        for row in _property_rows(pa, pb_):
            producer_rows.append(row)
    inputs: dict[int, set[int]] = defaultdict(set)
    if producers:
        for execution_id, artifact_id in Event.objects.filter(
            execution_id__in=list(producers), type__in=list(INPUT_EVENT_TYPES)
        ).values_list("execution_id", "artifact_id"):
            inputs[execution_id].add(artifact_id)
    up_a = inputs.get(producer_a.id, set()) if producer_a else set()
    up_b = inputs.get(producer_b.id, set()) if producer_b else set()
    upstream_nodes = (
        {
            r.id: r
            for r in _node_rows(
                "artifact", _with_type(Artifact.objects.filter(id__in=up_a | up_b)), with_properties=False
            )
        }
        if up_a | up_b
        else {}
    )
    upstream = [
        UpstreamRow(upstream_nodes[i], i in up_a, i in up_b)
        for i in sorted(up_a | up_b, key=lambda i: (not (i in up_a and i in up_b), i))
        if i in upstream_nodes
    ]
    return Comparison(
        a,
        b,
        rows,
        producer_a,
        producer_b,
        producer_rows,
        upstream,
        _contexts_of("artifact", a_id),
        _contexts_of("artifact", b_id),
    )
