"""Dashboard pages.  Thin: parse the request, ask ``store.services.dashboard`` and ``lineage_ui.drawing``, render."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from lineage_ui import drawing
from lineage_ui.access import reader_required
from store.models import GraphDrawing
from store.services import dashboard, graph_jobs
from store.services.errors import InvalidArgument, NotFound
from store.services.transactions import is_retryable

KINDS = ("artifact", "execution", "context")
MAX_HOPS = 20
DEFAULT_HOPS = 4
CONTEXT_TABLE_ROWS = 25  # rows per page of a context's executions and artifacts tables
BUSY_RETRY_AFTER_SECONDS = 1


def _int(params: QueryDict, name: str, default: int, *, low: int = 1, high: int = 10**9) -> int:
    """An integer query parameter, clamped; anything unreadable gives the default."""
    try:
        number = int(params.get(name, default))
    except (TypeError, ValueError):
        return default
    return min(max(number, low), high)


def _parse_id(raw: str | None) -> int | None:
    text = (raw or "").strip().lstrip("#")
    return int(text) if text.isdigit() and len(text) < 19 else None


def _optional_id(params: QueryDict, name: str) -> int | None:
    return _parse_id(params.get(name))


def dashboard_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A read-only page: login (unless anonymous read), GET/HEAD only, a store's NotFound is a 404."""

    @require_safe
    @reader_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except DatabaseError as exc:
            # A page view may write (it queues the context's drawing); another process holding the
            # database's write lock longer than we wait means busy, not broken: 503, as the REST API.
            if not is_retryable(exc):
                raise
            response = HttpResponse(
                "The store is busy; reload this page in a moment.\n", status=503, content_type="text/plain"
            )
            response["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
            return response

    return wrapper


# ---------------------------------------------------------------------------- home and search


@dashboard_page
def home(request: HttpRequest) -> HttpResponse:
    overview = dashboard.overview()
    return render(request, "lineage_ui/home.html", {"overview": overview, "nav": "home"})


@dashboard_page
def search(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "")[:2000]
    result = dashboard.search(text)
    if result.mode == "empty":
        return HttpResponseRedirect(reverse("lineage_ui:home"))
    status = 400 if result.error else 200
    return render(
        request,
        "lineage_ui/search.html",
        {"result": result, "q": text, "search_text": text, "nav": "home"},
        status=status,
    )


# ---------------------------------------------------------------------------- lists


@dashboard_page
def kind_index(request: HttpRequest, kind: str) -> HttpResponse:
    """The types of one kind (for contexts: the experiments, pipeline runs, ... of the store)."""
    return render(
        request,
        "lineage_ui/kind_index.html",
        {"kind": kind, "types": dashboard.node_types(kind), "nav": "contexts" if kind == "context" else "types"},
    )


@dataclass(frozen=True)
class Column:
    label: str
    key: str  # the sort key, "" when not sortable
    active: bool = False
    descending: bool = False
    url: str = ""
    custom: bool = False


def _columns(request: HttpRequest, table: dashboard.NodeTable) -> tuple[list[Column], list[Column]]:
    """(fixed columns, property columns) with the URLs that sort by them (a second click reverses)."""

    def column(label: str, key: str, custom: bool = False) -> Column:
        if not key:
            return Column(label, "", custom=custom)
        active = table.sort == key
        query = request.GET.copy()
        query["sort"] = key
        query.pop("page", None)
        if active and not table.descending:
            query["dir"] = "desc"
        else:
            query.pop("dir", None)
        return Column(label, key, active, active and table.descending, f"?{query.urlencode()}", custom)

    fixed = [column("id", "id"), column("name", "name"), column("created", "created")]
    if table.kind == "artifact":
        fixed += [column("uri", "uri"), column("state", "state")]
    elif table.kind == "execution":
        fixed += [column("state", "state"), column("duration", "")]
    else:
        fixed += [column("updated", "updated")]
    props = [
        column(name, f"p:{name}" if name in table.sortable_columns else "", name in table.custom_columns)
        for name in table.columns
    ]
    return fixed, props


@dashboard_page
def node_table(request: HttpRequest, kind: str, type_id: int) -> HttpResponse:
    params = request.GET
    sort = params.get("sort", "id")
    table = dashboard.node_table(
        kind,
        type_id,
        sort=sort,
        descending=params.get("dir") == "desc",
        filter_text=params.get("filter", "")[:2000],
        page=_int(params, "page", 1),
        per_page=_int(params, "per_page", 25, high=200),
        context_id=_optional_id(params, "context"),
    )
    fixed, props = _columns(request, table)
    return render(
        request,
        "lineage_ui/node_table.html",
        {
            "table": table,
            "kind": kind,
            "fixed_columns": fixed,
            "property_columns": props,
            "nav": "contexts" if kind == "context" else "types",
        },
        status=400 if table.filter_error else 200,
    )


# ---------------------------------------------------------------------------- node pages


@dashboard_page
def context(request: HttpRequest, pk: int) -> HttpResponse:
    page = dashboard.context_page(
        pk,
        execution_page=_int(request.GET, "epage", 1),
        artifact_page=_int(request.GET, "apage", 1),
        per_page=CONTEXT_TABLE_ROWS,
    )
    expand = request.GET.get("expand", "")[:64]
    graph = drawing.with_svg(
        drawing.context_drawing(
            pk,
            title=f"context {page.context.display_name}",
            expand=expand,
            outdated=request.GET.get("outdated") == "1",
        )
    )
    config = _graph_config(graph, "lineage_ui:context_graph", pk, expand=graph.expand)
    return render(
        request,
        "lineage_ui/context.html",
        {
            "page": page,
            "node": page.context,
            "drawing": graph,
            "graph_config": config,
            "job_config": graph.job.as_json() if graph.job else None,
            "context_url": reverse("lineage_ui:context", args=[pk]),
            "nav": "contexts",
        },
    )


@dashboard_page
@never_cache
def context_drawing_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress poll of a context's background drawing (small JSON; also re-queues a dead worker's job)."""
    dashboard.get_node("context", pk)
    return JsonResponse(drawing.drawing_status(pk, request.GET.get("expand", "")[:64]))


@dashboard_page
def context_drawing_svg(request: HttpRequest, pk: int, drawing_id: int) -> HttpResponse:
    """A stored drawing too large to inline in the page, fetched by its script (never changes: cached)."""
    svg = GraphDrawing.objects.filter(id=drawing_id, context_id=pk).values_list("svg", flat=True).first()
    if svg is None:
        raise Http404("no such drawing (a newer one replaced it)")
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=86400, immutable"
    return response


@require_POST
@reader_required
def context_drawing_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """The retry button of a failed background drawing (a form POST with the CSRF token)."""
    try:
        dashboard.get_node("context", pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    expand = request.POST.get("expand", "")[:64]
    variant = expand if expand and drawing.is_known_group(pk, expand) else ""
    if graph_jobs.workers_enabled():
        graph_jobs.retry(pk, variant)
    url = reverse("lineage_ui:context", args=[pk]) + (f"?expand={variant}" if variant else "")
    return HttpResponseRedirect(url + "#graph-title", status=303)


def _hops(request: HttpRequest) -> int:
    return _int(request.GET, "hops", DEFAULT_HOPS, low=1, high=MAX_HOPS)


@dashboard_page
def artifact(request: HttpRequest, pk: int) -> HttpResponse:
    page = dashboard.artifact_page(pk)
    hops = _hops(request)
    graph = drawing.with_svg(drawing.lineage_drawing(artifact_id=pk, hops=hops, title=f"lineage of artifact {pk}"))
    impact = None if page.artifact.type.is_model else dashboard.impact(pk)
    return render(
        request,
        "lineage_ui/artifact.html",
        {
            "page": page,
            "node": page.artifact,
            "drawing": graph,
            "hops": hops,
            "hop_choices": _hop_choices(hops),
            "impact": impact,
            "graph_config": _graph_config(graph, "lineage_ui:artifact_graph", pk, hops=hops, focus=f"a{pk}"),
            "nav": "",
        },
    )


@dashboard_page
def execution(request: HttpRequest, pk: int) -> HttpResponse:
    page = dashboard.execution_page(pk)
    hops = _int(request.GET, "hops", 2, low=1, high=MAX_HOPS)
    graph = drawing.with_svg(drawing.lineage_drawing(execution_id=pk, hops=hops, title=f"lineage of execution {pk}"))
    return render(
        request,
        "lineage_ui/execution.html",
        {
            "page": page,
            "node": page.execution,
            "drawing": graph,
            "hops": hops,
            "hop_choices": _hop_choices(hops),
            "graph_config": _graph_config(graph, "lineage_ui:execution_graph", pk, hops=hops, focus=f"e{pk}"),
            "nav": "",
        },
    )


def _hop_choices(current: int) -> list[int]:
    return sorted({1, 2, 4, 6, 10, current})


def _graph_config(
    graph: drawing.Drawing, url_name: str, pk: int, *, hops: int | None = None, focus: str = "", expand: str = ""
) -> dict[str, Any]:
    """What the pan/zoom script and the download links need (passed with json_script)."""
    suffix = f"?hops={hops}" if hops is not None else (f"?expand={expand}" if expand else "")
    return {
        "summary": graph.summary,
        "nodes": graph.node_count,
        "total": graph.total_nodes,
        "focus": focus,
        "downloads": {fmt: reverse(url_name, args=[pk, fmt]) + suffix for fmt in drawing.FORMATS},
    }


# ---------------------------------------------------------------------------- downloads


def _download(graph: drawing.Drawing, fmt: str, filename: str) -> HttpResponse:
    if fmt not in drawing.FORMATS:
        raise Http404(f"no {fmt} download; svg, png or dot")
    try:
        body = drawing.download(graph, fmt)
    except drawing.graphs.DrawingError as exc:
        return HttpResponse(f"The graph could not be drawn: {exc}\n", status=503, content_type="text/plain")
    response = HttpResponse(body, content_type=drawing.FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


@dashboard_page
def context_graph(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in drawing.FORMATS:
        raise Http404(f"no {fmt} download; svg, png or dot")
    node = dashboard.get_node("context", pk)
    expand = request.GET.get("expand", "")[:64]
    graph = drawing.context_drawing(
        pk, title=f"context {node.display_name}", expand=expand, request_missing=False, sources=True
    )
    return _download(graph, fmt, f"context-{pk}" + (f"-{graph.expand}" if graph.expand else ""))


@dashboard_page
def artifact_graph(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in drawing.FORMATS:
        raise Http404(f"no {fmt} download; svg, png or dot")
    dashboard.get_node("artifact", pk)
    hops = _hops(request)
    graph = drawing.lineage_drawing(artifact_id=pk, hops=hops, title=f"lineage of artifact {pk}")
    return _download(graph, fmt, f"artifact-{pk}-lineage-{hops}-hops")


@dashboard_page
def execution_graph(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in drawing.FORMATS:
        raise Http404(f"no {fmt} download; svg, png or dot")
    dashboard.get_node("execution", pk)
    hops = _int(request.GET, "hops", 2, low=1, high=MAX_HOPS)
    graph = drawing.lineage_drawing(execution_id=pk, hops=hops, title=f"lineage of execution {pk}")
    return _download(graph, fmt, f"execution-{pk}-lineage-{hops}-hops")


# ---------------------------------------------------------------------------- types and compare


@dashboard_page
def types(request: HttpRequest) -> HttpResponse:
    return render(request, "lineage_ui/types.html", {"types": dashboard.types_page(), "nav": "types"})


@dashboard_page
def compare(request: HttpRequest) -> HttpResponse:
    params = request.GET
    picked = [i for i in map(_parse_id, params.getlist("id")) if i is not None]
    if picked:
        # From an artifact table's checkboxes: ?id=1&id=2 becomes the bookmarkable ?a=1&b=2.
        query = QueryDict(mutable=True)
        query["a"] = str(picked[0])
        if len(picked) > 1:
            query["b"] = str(picked[1])
        return HttpResponseRedirect(f"{reverse('lineage_ui:compare')}?{query.urlencode()}")
    a_id, b_id = _optional_id(params, "a"), _optional_id(params, "b")
    q = params.get("q", "")[:500]
    choices: list[dashboard.NodeRow] = []
    search_error = ""
    if q.strip():
        try:
            choices = dashboard.artifact_choices(q)
        except InvalidArgument as exc:
            search_error = exc.message
    comparison = None
    missing: list[str] = []
    picked_rows: dict[str, dashboard.NodeRow | None] = {"a": None, "b": None}
    for slot, wanted in (("a", a_id), ("b", b_id)):
        if wanted is not None:
            try:
                picked_rows[slot] = dashboard.get_node("artifact", wanted)
            except NotFound:
                missing.append(f"{slot.upper()}: no artifact with id {wanted}")
    if picked_rows["a"] and picked_rows["b"]:
        comparison = dashboard.compare(a_id, b_id)  # type: ignore[arg-type]
    return render(
        request,
        "lineage_ui/compare.html",
        {
            "comparison": comparison,
            "a_id": a_id,
            "b_id": b_id,
            "picked": picked_rows,
            "q": q,
            "choices": choices,
            "search_error": search_error,
            "missing": missing,
            "nav": "compare",
        },
        status=404 if missing and not comparison else 200,
    )
