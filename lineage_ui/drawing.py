"""From store data to drawings: the glue between ``store.services.dashboard`` and ``lineage_ui.graphs``.

The dashboard service loads graph data (nodes, events, or counts by type); this
module turns it into :class:`~lineage_ui.graphs.GraphData` with each node's URL,
decides whether a graph is small enough to lay out inside a request, and keeps
rendered SVGs in Django's cache keyed by a digest of their DOT text (so a
drawing of unchanged data is laid out once, and a changed graph can never be
served a stale picture).

Graphs above ``settings.MLMD_INPROCESS_GRAPH_LIMIT`` nodes (300 by default) are
never laid out here.  Without workers the page gets the summary graph (types
with counts), which costs three GROUP BY queries and a tiny layout whatever the
size.  With workers (REDIS_URL), :func:`context_drawing` serves the drawing a
worker stored for the context's current content version; when there is none
yet it asks for one (``store.services.graph_jobs.request_drawing``) and returns
the summary with the job's progress, which the page polls
(:func:`drawing_status`) until the stored drawing replaces it.  Workers call
:func:`full_context_graph` (through ``lineage_ui.precompute``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from lineage_ui import graphs
from store.choices import INPUT_EVENT_TYPES, ArtifactBaseType
from store.models import GraphDrawing, GraphJob
from store.services import dashboard, graph_jobs

logger = logging.getLogger("lineage_ui.drawing")

DEFAULT_GRAPH_LIMIT = 300
SVG_CACHE_SECONDS = 3600
FORMATS = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "dot": "text/vnd.graphviz; charset=utf-8",
}


def graph_limit() -> int:
    """Most nodes a graph may have to be laid out inside a request."""
    return int(getattr(settings, "MLMD_INPROCESS_GRAPH_LIMIT", DEFAULT_GRAPH_LIMIT))


@dataclass
class JobView:
    """What the page and its progress poll show about a background drawing job."""

    state: str  # queued, running, failed (or done, in a poll's last answer)
    progress: int = 0
    stage: str = ""
    error: str = ""
    attempts: int = 0
    max_attempts: int = 3
    queued_seconds: float | None = None
    heartbeat_age: float | None = None
    waiting_for_worker: bool = False
    status_url: str = ""
    retry_url: str = ""

    @classmethod
    def of(cls, job: GraphJob | None, *, status_url: str = "", retry_url: str = "") -> JobView:
        if job is None:
            return cls("failed", error="The context is gone.")
        now = timezone.now()
        queued = (now - (job.retry_at or job.queued_at)).total_seconds() if (job.retry_at or job.queued_at) else None
        beat = job.heartbeat_at or job.started_at
        state = str(job.status)
        if state == "done":  # done, but not for the current data: a new run is on its way
            state = "queued"
        return cls(
            state=state,
            progress=job.progress if state == "running" else 0,
            stage=job.stage if state == "running" else "",
            error=job.error,
            attempts=job.attempts,
            max_attempts=graph_jobs.max_attempts(),
            queued_seconds=max(queued, 0.0) if queued is not None and state == "queued" else None,
            heartbeat_age=(now - beat).total_seconds() if beat and state == "running" else None,
            # Queued well past its debounce and back-off: most likely no worker is running.
            waiting_for_worker=state == "queued" and queued is not None and queued > 30,
            status_url=status_url,
            retry_url=retry_url,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "progress": self.progress,
            "stage": self.stage,
            "error": self.error,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "queued_seconds": None if self.queued_seconds is None else round(self.queued_seconds, 1),
            "heartbeat_age": None if self.heartbeat_age is None else round(self.heartbeat_age, 1),
            "waiting_for_worker": self.waiting_for_worker,
            "status_url": self.status_url,
            "retry_url": self.retry_url,
        }


@dataclass
class Drawing:
    """A graph ready for a page: its data, DOT text and (once rendered) inline SVG.

    A drawing a worker stored (``stored``) comes with its SVG and DOT already
    made; ``graph`` is then empty and ``index`` describes the drawn nodes
    (groups, the nodes left out).  While a worker draws, ``graph`` is the
    summary and ``job`` the progress to show.
    """

    graph: graphs.GraphData
    total_nodes: int
    limit: int
    note: str = ""
    svg: str = ""
    error: str = ""
    stored: bool = False
    dot_text: str = ""
    layout_text: str = ""
    drawn_at: datetime | None = None
    version: str = ""
    outdated: bool = False  # a drawing of older data, shown on request while the current one is made
    index: dict[str, Any] = field(default_factory=dict)
    job: JobView | None = None
    expand: str = ""
    expand_missing: str = ""
    previous_at: datetime | None = None  # when the last (outdated) drawing was made, if there is one
    stored_nodes: int = 0
    svg_url: str = ""  # a stored SVG too large to inline: the page's script fetches it from here

    @property
    def summary(self) -> bool:
        return self.graph.summary

    @property
    def dot(self) -> str:
        return self.dot_text or graphs.to_dot(self.graph)

    @property
    def empty(self) -> bool:
        return not self.graph.nodes and not self.svg and not self.svg_url

    @property
    def node_count(self) -> int:
        return self.stored_nodes if self.stored else len(self.graph.nodes)

    @property
    def groups(self) -> list[dict[str, Any]]:
        return list(self.index.get("groups", []))

    @property
    def hidden(self) -> dict[str, int]:
        return dict(self.index.get("hidden", {}))


class _Urls:
    """Node page URLs without one ``reverse`` per node."""

    _SENTINEL = 987654321

    def __init__(self) -> None:
        self._templates = {
            kind: reverse(f"lineage_ui:{kind}", args=[self._SENTINEL]) for kind in ("artifact", "execution", "context")
        }

    def node(self, kind: str, node_id: int) -> str:
        return self._templates[kind].replace(str(self._SENTINEL), str(node_id))

    @staticmethod
    def nodes_of_type(kind: str, type_id: int, context_id: int | None = None) -> str:
        url = reverse(f"lineage_ui:{kind}_type", args=[type_id])
        return f"{url}?context={context_id}" if context_id is not None else url


def _hint(type_name: str, base_type: int) -> str:
    base = ""
    if base_type:
        try:
            base = str(ArtifactBaseType(base_type).label)
        except ValueError:
            base = ""
    return graphs.shape_hint_for(type_name, base)


def lineage_graph(data: dashboard.LineageData, *, title: str = "") -> graphs.GraphData:
    """Graph data with every node and event (for graphs within the limit)."""
    urls = _Urls()
    nodes: list[graphs.GraphNode] = []
    for e in data.executions:
        label = e.name or f"{e.type_name} {e.id}"
        nodes.append(
            graphs.GraphNode(
                key=f"e{e.id}",
                kind=graphs.EXECUTION,
                label=label,
                type_name=e.type_name,
                state=e.state,
                url=urls.node("execution", e.id),
                tooltip=f"execution {e.id}: {label} ({e.type_name}{', ' + e.state if e.state else ''})",
                focus=e.id in data.focus_executions,
            )
        )
    for a in data.artifacts:
        label = a.name or (dashboard.uri_label(a.uri) if a.uri else "") or f"{a.type_name} {a.id}"
        nodes.append(
            graphs.GraphNode(
                key=f"a{a.id}",
                kind=graphs.ARTIFACT,
                label=label,
                type_name=a.type_name,
                state=a.state,
                url=urls.node("artifact", a.id),
                tooltip=f"artifact {a.id}: {a.uri or label} ({a.type_name})",
                shape_hint=_hint(a.type_name, a.base_type),
                focus=a.id in data.focus_artifacts,
            )
        )
    edges = []
    seen: set[tuple[str, str]] = set()
    for artifact_id, execution_id, event_type in data.events:
        if event_type in INPUT_EVENT_TYPES:
            pair = (f"a{artifact_id}", f"e{execution_id}")
        else:
            pair = (f"e{execution_id}", f"a{artifact_id}")
        if pair not in seen:
            seen.add(pair)
            edges.append(graphs.GraphEdge(*pair))
    return graphs.GraphData(nodes=nodes, edges=edges, title=title)


def counts_graph(counts: dashboard.TypeCounts, *, title: str = "", context_id: int | None = None) -> graphs.GraphData:
    """The summary graph: execution and artifact types with counts on nodes and edges."""
    urls = _Urls()
    node_counts = [
        graphs.TypeCount(
            kind=graphs.EXECUTION,
            type_id=type_id,
            type_name=name,
            count=n,
            failed=failed,
            url=urls.nodes_of_type("execution", type_id, context_id),
        )
        for type_id, name, n, failed in counts.executions
    ] + [
        graphs.TypeCount(
            kind=graphs.ARTIFACT,
            type_id=type_id,
            type_name=name,
            count=n,
            url=urls.nodes_of_type("artifact", type_id, context_id),
            shape_hint=_hint(name, base),
        )
        for type_id, name, base, n in counts.artifacts
    ]
    edge_counts = [
        graphs.TypeEdgeCount(graphs.ARTIFACT, a, graphs.EXECUTION, e, n)
        if is_input
        else graphs.TypeEdgeCount(graphs.EXECUTION, e, graphs.ARTIFACT, a, n)
        for e, a, is_input, n in counts.edges
    ]
    return graphs.summary_graph(node_counts, edge_counts, title=title)


def _too_large(nodes: int, events: int, limit: int) -> bool:
    # Dense graphs lay out slowly too: bound the edges as well as the nodes.
    return nodes > limit or events > 4 * limit


def _summary_note(total: int, limit: int) -> str:
    return (
        f"This graph has {total} nodes, more than the {limit} drawn inside a page request. "
        "Shown instead: a summary by type, with counts on nodes and edges. "
        "A background worker draws the full graph of large runs when one is configured; "
        "meanwhile, follow a type to list its nodes, or open a node's own lineage."
    )


def _worker_note(total: int, limit: int) -> str:
    return (
        f"This graph has {total} nodes, more than the {limit} drawn inside a page request: "
        "a background worker draws the full graph, with parallel steps grouped. "
        "Meanwhile, a summary by type, with counts on nodes and edges."
    )


def full_context_graph(context_id: int, title: str = "") -> graphs.GraphData:
    """The whole execution DAG of a context, whatever its size (for background drawing)."""
    return lineage_graph(dashboard.context_lineage(context_id), title=title)


_GROUP_KEY = re.compile(r"^g[0-9a-f]{11}$")


def is_known_group(context_id: int, expand: str) -> bool:
    """Whether ``expand`` names a group of a stored drawing of the context (no job for made-up keys)."""
    if not _GROUP_KEY.match(expand):
        return False
    for index in GraphDrawing.objects.filter(context_id=context_id, variant="").values_list("node_index", flat=True):
        if any(row.get("key") == expand for row in (index or {}).get("groups", [])):
            return True
    return False


def _job_urls(context_id: int, variant: str) -> tuple[str, str]:
    suffix = f"?expand={variant}" if variant else ""
    return (
        reverse("lineage_ui:context_drawing_status", args=[context_id]) + suffix,
        reverse("lineage_ui:context_drawing_retry", args=[context_id]),
    )


def inline_svg_limit() -> int:
    """Larger stored SVGs are not put in the page's HTML: the page stays quick, the browser fetches them."""
    return int(getattr(settings, "MLMD_GRAPH_INLINE_SVG_BYTES", 1_000_000))


def _stored(context_id: int, variant: str, version: str, *, sources: bool) -> GraphDrawing | None:
    """The stored drawing of this version; the DOT sources (megabytes) only for downloads."""
    rows = GraphDrawing.objects.filter(context_id=context_id, variant=variant, version=version)
    if not sources:
        rows = rows.defer("dot", "layout")
    return rows.first()


def _from_stored(row: GraphDrawing, drawing: Drawing, *, outdated: bool = False) -> Drawing:
    drawing.stored = True
    deferred = row.get_deferred_fields()
    if len(row.svg) > inline_svg_limit() and "dot" in deferred:
        drawing.svg_url = reverse("lineage_ui:context_drawing_svg", args=[row.context_id, row.id])
    else:
        drawing.svg = row.svg
    drawing.dot_text = "" if "dot" in deferred else row.dot
    drawing.layout_text = "" if "layout" in deferred else row.layout
    drawing.drawn_at = row.drawn_at
    drawing.version = row.version
    drawing.index = row.node_index or {}
    drawing.stored_nodes = row.drawn_nodes
    drawing.outdated = outdated
    drawing.note = ""
    return drawing


def context_drawing(
    context_id: int,
    *,
    title: str = "",
    limit: int | None = None,
    expand: str = "",
    outdated: bool = False,
    request_missing: bool = True,
    sources: bool = False,
) -> Drawing:
    """The context's execution DAG: laid out here within the limit; above it, a worker's or the summary.

    ``expand`` names a group to draw member by member, ``outdated`` asks for the
    last drawing even when the data changed since (clearly marked).  With
    ``request_missing`` (a page view), a missing drawing is asked of the
    workers; downloads only take what exists, with its DOT ``sources``.
    """
    limit = graph_limit() if limit is None else limit
    workers = graph_jobs.workers_enabled()
    variant = expand_missing = ""
    version: str | None = None
    # A context drawn before (by a worker, or `manage.py graphs --rebuild`): its current
    # drawing needs only the version's aggregates, not the counts by type.
    known = GraphJob.objects.filter(context_id=context_id).exists()
    if known:
        if expand and workers:
            if is_known_group(context_id, expand):
                variant = expand
            else:
                expand_missing = expand
        version = graph_jobs.content_version(context_id)
        stored = _stored(context_id, variant, version, sources=sources)
        if stored is not None:
            if variant:
                GraphJob.objects.filter(context_id=context_id, variant=variant).update(viewed_at=timezone.now())
            drawing = _from_stored(stored, Drawing(graphs.GraphData(title=title), stored.total_nodes, limit))
            drawing.expand, drawing.expand_missing = variant, expand_missing
            return drawing
    elif expand and workers:
        expand_missing = expand
    # Counting by type costs three GROUP BY queries at any size and tells the size too;
    # for a large context they change only with its version (kept while it is drawn).
    if version:
        key = f"mlmd:graph:counts:{context_id}:{version}"
        counts = cache.get(key)
        if counts is None:
            counts = dashboard.context_type_counts(context_id)
            cache.set(key, counts, SVG_CACHE_SECONDS)
    else:
        counts = dashboard.context_type_counts(context_id)
    if not _too_large(counts.size, counts.events, limit):
        return Drawing(full_context_graph(context_id, title), counts.size, limit)
    summary = counts_graph(counts, title=title, context_id=context_id)
    if not workers:
        return Drawing(summary, counts.size, limit, note=_summary_note(counts.size, limit))
    drawing = Drawing(summary, counts.size, limit, note=_worker_note(counts.size, limit))
    drawing.expand, drawing.expand_missing = variant, expand_missing
    version = version or graph_jobs.content_version(context_id)
    if request_missing:
        job = graph_jobs.request_drawing(context_id, variant, version=version, viewed=bool(variant))
        status_url, retry_url = _job_urls(context_id, variant)
        drawing.job = JobView.of(job, status_url=status_url, retry_url=retry_url)
    # While the expanded drawing is made, the collapsed one (if current) is better than the summary.
    if variant:
        fallback = _stored(context_id, "", version, sources=sources)
        if fallback is not None:
            job_view = drawing.job
            _from_stored(fallback, drawing)
            drawing.job = job_view
            drawing.expand = variant
            return drawing
    previous = (
        GraphDrawing.objects.filter(context_id=context_id, variant=variant)
        .exclude(version=version)
        .order_by("-drawn_at")
        .only("id", "drawn_at")
        .first()
    )
    if previous is not None:
        drawing.previous_at = previous.drawn_at
        if outdated:
            job_view = drawing.job
            full = GraphDrawing.objects.defer("dot", "layout").get(id=previous.id)
            _from_stored(full, drawing, outdated=True)
            drawing.job = job_view
            drawing.previous_at = previous.drawn_at
    return drawing


def drawing_status(context_id: int, expand: str = "") -> dict[str, Any]:
    """The progress poll's answer: the job's state, or ``done`` once the current version is drawn.

    Also the page's watchdog: asking re-queues a job whose worker died and
    re-sends one whose message was lost (``graph_jobs.request_drawing``).
    """
    variant = expand if expand and is_known_group(context_id, expand) else ""
    status_url, retry_url = _job_urls(context_id, variant)
    if not graph_jobs.workers_enabled():
        return {"state": "none", "status_url": status_url}
    version = graph_jobs.content_version(context_id)
    if not version:
        return {"state": "gone", "status_url": status_url}
    done = (
        GraphDrawing.objects.filter(context_id=context_id, variant=variant, version=version)
        .values("drawn_at", "drawn_nodes")
        .first()
    )
    if done is not None:
        return {
            "state": "done",
            "progress": 100,
            "drawn_at": done["drawn_at"].isoformat(),
            "drawn_nodes": done["drawn_nodes"],
            "status_url": status_url,
        }
    job = graph_jobs.request_drawing(context_id, variant, version=version)
    return JobView.of(job, status_url=status_url, retry_url=retry_url).as_json()


def lineage_drawing(
    *,
    artifact_id: int | None = None,
    execution_id: int | None = None,
    hops: int,
    title: str = "",
    limit: int | None = None,
) -> Drawing:
    """Upstream and downstream lineage of one node within ``hops`` events."""
    limit = graph_limit() if limit is None else limit
    # Walk well past the limit so that the summary counts what is really there.
    data = dashboard.lineage_around(
        artifact_ids=[artifact_id] if artifact_id is not None else [],
        execution_ids=[execution_id] if execution_id is not None else [],
        hops=hops,
        max_nodes=max(limit * 20, 1000),
    )
    if _too_large(data.size, len(data.events), limit):
        graph = counts_graph(dashboard.lineage_type_counts(data), title=title)
        note = _summary_note(data.size, limit)
        if data.truncated:
            note += f" The walk stopped after {data.size} nodes; fewer hops give a complete picture."
        return Drawing(graph, data.size, limit, note=note)
    return Drawing(lineage_graph(data, title=title), data.size, limit)


# ---------------------------------------------------------------------------- rendering


def _cache_key(dot: str, fmt: str) -> str:
    return f"mlmd:graph:{fmt}:{hashlib.sha256(dot.encode()).hexdigest()}"


def render(dot: str, fmt: str) -> bytes:
    """SVG or PNG of a DOT text, from the cache when this exact text was drawn before."""
    key = _cache_key(dot, fmt)
    found = cache.get(key)
    if found is not None:
        return bytes(found)
    result = graphs.render(dot, fmt)
    cache.set(key, result, SVG_CACHE_SECONDS)
    return result


def with_svg(drawing: Drawing) -> Drawing:
    """Lay the drawing out (inline SVG for a page); a Graphviz failure becomes a message, not an error page."""
    if drawing.empty or drawing.svg or drawing.stored:
        return drawing
    try:
        drawing.svg = graphs.inline_svg(render(drawing.dot, "svg").decode())
    except graphs.DrawingError as exc:
        logger.warning("graph drawing failed: %s", exc)
        drawing.error = str(exc)
    return drawing


_XML_PROLOG = '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'


def download(drawing: Drawing, fmt: str) -> bytes:
    if fmt == "dot":
        return drawing.dot.encode()
    if drawing.stored:
        if fmt == "svg":
            return (_XML_PROLOG + drawing.svg).encode()
        if not drawing.layout_text:
            raise graphs.DrawingError("this drawing has no stored layout; draw it again (manage.py graphs --rebuild)")
        # The stored layout has every position: neato -n2 draws it without laying it out again.
        key = _cache_key(drawing.layout_text, f"positioned-{fmt}")
        found = cache.get(key)
        if found is not None:
            return bytes(found)
        result = graphs.render_positioned(drawing.layout_text, fmt)
        cache.set(key, result, SVG_CACHE_SECONDS)
        return result
    return render(drawing.dot, fmt)
