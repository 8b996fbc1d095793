"""From store data to drawings: the glue between ``store.services.dashboard`` and ``lineage_ui.graphs``.

The dashboard service loads graph data (nodes, events, or counts by type); this
module turns it into :class:`~lineage_ui.graphs.GraphData` with each node's URL,
decides whether a graph is small enough to lay out inside a request, and keeps
rendered SVGs in Django's cache keyed by a digest of their DOT text (so a
drawing of unchanged data is laid out once, and a changed graph can never be
served a stale picture).

Graphs above ``settings.MLMD_INPROCESS_GRAPH_LIMIT`` nodes (300 by default) are
never laid out here: the page gets the summary graph (types with counts), which
costs three GROUP BY queries and a tiny layout whatever the size.  Issue 7 (a
Celery worker that draws the full graph) plugs in at :func:`context_drawing`:
the worker calls :func:`full_context_graph` and :func:`graphs.render` with no
limit, and the page swaps the summary for the stored drawing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from lineage_ui import graphs
from store.choices import INPUT_EVENT_TYPES, ArtifactBaseType
from store.services import dashboard

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
class Drawing:
    """A graph ready for a page: its data, DOT text and (once rendered) inline SVG."""

    graph: graphs.GraphData
    total_nodes: int
    limit: int
    note: str = ""
    svg: str = ""
    error: str = ""

    @property
    def summary(self) -> bool:
        return self.graph.summary

    @property
    def dot(self) -> str:
        return graphs.to_dot(self.graph)

    @property
    def empty(self) -> bool:
        return not self.graph.nodes


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


def full_context_graph(context_id: int, title: str = "") -> graphs.GraphData:
    """The whole execution DAG of a context, whatever its size (for background drawing)."""
    return lineage_graph(dashboard.context_lineage(context_id), title=title)


def context_drawing(context_id: int, *, title: str = "", limit: int | None = None) -> Drawing:
    """The context's execution DAG, or its summary when above the limit."""
    limit = graph_limit() if limit is None else limit
    # Counting by type costs three GROUP BY queries at any size and tells the size too.
    counts = dashboard.context_type_counts(context_id)
    if _too_large(counts.size, counts.events, limit):
        graph = counts_graph(counts, title=title, context_id=context_id)
        return Drawing(graph, counts.size, limit, note=_summary_note(counts.size, limit))
    return Drawing(full_context_graph(context_id, title), counts.size, limit)


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
    if drawing.empty:
        return drawing
    try:
        drawing.svg = graphs.inline_svg(render(drawing.dot, "svg").decode())
    except graphs.DrawingError as exc:
        logger.warning("graph drawing failed: %s", exc)
        drawing.error = str(exc)
    return drawing


def download(drawing: Drawing, fmt: str) -> bytes:
    if fmt == "dot":
        return drawing.dot.encode()
    return render(drawing.dot, fmt)
