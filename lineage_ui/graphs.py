"""Drawing lineage graphs: plain data in, DOT text and SVG/PNG out.

Pure functions, no ORM and no request: the views, the downloads and (later) the
Celery workers that precompute large drawings all share them.  Callers turn
store rows into :class:`GraphData` (see ``lineage_ui.drawing``), this module
lays them out with Graphviz's ``dot``.

Graphviz runs as a child process with a time limit (:func:`run_graphviz`), never
through a library call that could not be stopped: a layout that runs too long
is killed, and so is one whose caller dies (a worker killed mid-layout).

Look: executions are boxes, artifacts ellipses (models and datasets get their
own shapes), each type has its own fill colour, a failed execution is red with
a thick red border, running ones have a dashed border, a focused node (the
artifact a lineage page is about) a thick dark border.  Every node carries a
``URL`` so the SVG links to its page, and the drawing has a legend.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

ARTIFACT = "artifact"
EXECUTION = "execution"
MORE = "more"  # the "N more" node of a capped drawing: stands for the nodes left out
KINDS = (ARTIFACT, EXECUTION)

FAILED_STATES = frozenset({"FAILED"})
RUNNING_STATES = frozenset({"RUNNING", "NEW"})
GONE_STATES = frozenset({"DELETED", "ABANDONED", "MARKED_FOR_DELETION", "CANCELED"})

FAILED_FILL = "#fde2e1"
FAILED_LINE = "#c62828"
FOCUS_LINE = "#1a1a2e"
EDGE_COLOUR = "#6b7280"

# Soft fills, readable with dark text; a type keeps its colour across pages
# because the colour is chosen from a digest of the type's name.
PALETTE = (
    "#dbeafe",  # blue
    "#dcfce7",  # green
    "#fef3c7",  # amber
    "#ede9fe",  # violet
    "#cffafe",  # cyan
    "#fce7f3",  # pink
    "#e0e7ff",  # indigo
    "#ecfccb",  # lime
    "#ffedd5",  # orange
    "#f1f5f9",  # slate
    "#d1fae5",  # emerald
    "#fae8ff",  # fuchsia
)

LABEL_WIDTH = 28


@dataclass(frozen=True)
class GraphNode:
    """A node to draw.

    ``key`` is unique in the graph (``a12``, ``e7``, ``ta3`` for a summary node of
    artifact type 3); ``count`` is set on summary nodes; ``failed`` counts failed
    executions behind a summary node.
    """

    key: str
    kind: str  # ARTIFACT or EXECUTION
    label: str
    type_name: str = ""
    state: str = ""
    url: str = ""
    tooltip: str = ""
    shape_hint: str = ""  # "model", "dataset", "metrics" or ""
    count: int | None = None
    failed: int = 0
    focus: bool = False


@dataclass(frozen=True)
class GraphEdge:
    """An event: artifact → execution for an input, execution → artifact for an output."""

    source: str
    target: str
    label: str = ""
    count: int | None = None


@dataclass
class GraphData:
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    title: str = ""
    summary: bool = False

    @property
    def size(self) -> int:
        return len(self.nodes)


@dataclass(frozen=True)
class TypeCount:
    """How many nodes of one type a large graph has (a node of the summary graph)."""

    kind: str
    type_id: int
    type_name: str
    count: int
    failed: int = 0
    url: str = ""
    shape_hint: str = ""


@dataclass(frozen=True)
class TypeEdgeCount:
    """How many events go from nodes of one type to nodes of another (an edge of the summary graph)."""

    source_kind: str
    source_type_id: int
    target_kind: str
    target_type_id: int
    count: int


class DrawingError(Exception):
    """Graphviz could not lay out a graph (not installed, or it failed)."""


class LayoutTimeout(DrawingError):
    """Graphviz ran past its time limit and was killed."""


class LayoutCancelled(DrawingError):
    """The caller stopped waiting for Graphviz (another worker took the job over)."""


# ---------------------------------------------------------------------------- colours and shapes


def type_colour(type_name: str) -> str:
    digest = hashlib.sha1(type_name.encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def shape_hint_for(type_name: str, base_type: str = "") -> str:
    """ "model", "dataset", "metrics" or "": the base type decides, else the type's name."""
    base = base_type.upper()
    if base == "MODEL":
        return "model"
    if base == "DATASET":
        return "dataset"
    if base in ("METRICS", "STATISTICS"):
        return "metrics"
    if re.search(r"(metric|evaluat|statistic|blessing)", type_name, re.I):
        return "metrics"
    if re.search(r"model", type_name, re.I):
        return "model"
    if re.search(r"(data|example|split)", type_name, re.I):
        return "dataset"
    return ""


def _shape(node: GraphNode) -> str:
    if node.kind == EXECUTION:
        return "box"
    return {"model": "box3d", "dataset": "cylinder", "metrics": "note"}.get(node.shape_hint, "ellipse")


def _style(node: GraphNode) -> dict[str, str]:
    if node.kind == MORE:
        return {"shape": "note", "style": "filled,dashed", "fillcolor": "#f8fafc", "color": "#64748b",
                "fontcolor": "#334155", "penwidth": "1.2"}
    attrs: dict[str, str] = {
        "shape": _shape(node),
        "fillcolor": type_colour(node.type_name or node.label),
        "color": "#475569",
        "penwidth": "1",
    }
    styles = ["filled"]
    if node.kind == EXECUTION:
        styles.append("rounded")
    failed = node.state in FAILED_STATES or node.failed > 0
    if failed:
        attrs["fillcolor"] = FAILED_FILL
        attrs["color"] = FAILED_LINE
        attrs["fontcolor"] = FAILED_LINE
        attrs["penwidth"] = "2.5"
    elif node.state in RUNNING_STATES:
        styles.append("dashed")
        attrs["penwidth"] = "1.5"
    elif node.state in GONE_STATES:
        styles.append("dotted")
        attrs["fontcolor"] = "#6b7280"
    if node.focus:
        attrs["color"] = FOCUS_LINE
        attrs["penwidth"] = "3"
    attrs["style"] = ",".join(styles)
    return attrs


# ---------------------------------------------------------------------------- DOT


def quote(text: str) -> str:
    """A DOT double-quoted string (backslashes, quotes and newlines escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


def shorten(text: str, width: int = LABEL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _attrs(values: dict[str, str]) -> str:
    return ", ".join(f"{name}={quote(value)}" for name, value in values.items() if value != "")


def _node_label(node: GraphNode) -> str:
    lines = [shorten(node.label)]
    if node.count is not None:
        lines = [shorten(node.type_name or node.label), f"× {node.count}"]
        if node.failed:
            lines.append(f"{node.failed} failed")
    else:
        if node.type_name and node.type_name != node.label:
            lines.append(shorten(node.type_name))
        if node.kind == EXECUTION and node.state and node.state not in ("COMPLETE", "UNKNOWN"):
            lines.append(node.state)
    return "\n".join(lines)


def _legend(graph: GraphData) -> list[str]:
    """A legend cluster: one sample per type (shape and colour) and per state seen."""
    samples: list[GraphNode] = []
    seen: set[tuple[str, str]] = set()
    for node in graph.nodes:
        key = (node.kind, node.type_name)
        if node.type_name and key not in seen:
            seen.add(key)
            samples.append(
                GraphNode(
                    key=f"legend{len(samples)}",
                    kind=node.kind,
                    label=node.type_name,
                    type_name=node.type_name,
                    shape_hint=node.shape_hint,
                )
            )
    samples.sort(key=lambda n: (n.kind != EXECUTION, n.label.lower()))
    samples = samples[:16]
    states = {n.state for n in graph.nodes} | ({"FAILED"} if any(n.failed for n in graph.nodes) else set())
    if states & FAILED_STATES:
        samples.append(GraphNode(key="legend_failed", kind=EXECUTION, label="failed execution", state="FAILED"))
    if states & RUNNING_STATES:
        samples.append(
            GraphNode(key="legend_running", kind=EXECUTION, label="running", type_name="running", state="RUNNING")
        )
    if any(n.focus for n in graph.nodes):
        samples.append(
            GraphNode(key="legend_focus", kind=ARTIFACT, label="this artifact", type_name="this artifact", focus=True)
        )
    if not samples:
        return []
    lines = [
        "  subgraph cluster_legend {",
        '    label="Legend"; fontsize=11; fontcolor="#334155"; style="rounded,filled"; '
        'fillcolor="#f8fafc"; color="#cbd5e1"; rank=sink;',
    ]
    for sample in samples:
        style = _style(sample)
        style.update({"fontsize": "9", "height": "0.3", "margin": "0.06,0.03"})
        kind_word = "execution type" if sample.kind == EXECUTION else "artifact type"
        tooltip = sample.label if sample.key.startswith("legend_") else f"{kind_word} {sample.label}"
        lines.append(f"    {sample.key} [{_attrs({**style, 'label': shorten(sample.label, 22), 'tooltip': tooltip})}];")
    # Stack the samples vertically with invisible edges.
    for first, second in pairwise(samples):
        lines.append(f"    {first.key} -> {second.key} [style=invis];")
    lines.append("  }")
    return lines


# Graphviz settings that trade layout quality for time, by the size of the work
# (nodes plus the virtual nodes of edges that cross ranks).  Measured on lineage
# graphs (the work estimated by ``grouping``): a tangled graph of 400 nodes (work
# 2,800) took 19 s with the defaults and 5 s with bounded network simplex; one of
# 1,000 nodes (work 11,500) 55 s, 18 s, and 12 s with straight edges as well.
LAYOUT_EFFORT: tuple[tuple[int, dict[str, str]], ...] = (
    (1_500, {}),
    (6_000, {"mclimit": "0.5", "nslimit": "0.2", "nslimit1": "0.2"}),
    (10**12, {"mclimit": "0.2", "nslimit": "0.2", "nslimit1": "0.2", "splines": "line"}),
)


def layout_effort(work: int) -> dict[str, str]:
    """Graph attributes that keep ``dot`` quick on a graph of ``work`` real and virtual nodes."""
    for limit, attrs in LAYOUT_EFFORT:
        if work <= limit:
            return dict(attrs)
    return dict(LAYOUT_EFFORT[-1][1])


def to_dot(
    graph: GraphData,
    *,
    legend: bool = True,
    rankdir: str = "LR",
    extra: dict[str, str] | None = None,
    edge_label: str = "label",
) -> str:
    """The graph as DOT text for the ``dot`` layout (``extra`` overrides graph attributes).

    ``edge_label="xlabel"`` places edge counts after the layout: a ``label``
    makes ``dot`` double every rank, which on large graphs doubles the virtual
    nodes and more than doubles the time.
    """
    graph_attrs = {
        "rankdir": rankdir,
        "fontname": "Helvetica",
        "fontsize": "11",
        "bgcolor": "white",
        "nodesep": "0.25",
        "ranksep": "0.45",
        "tooltip": graph.title or "lineage",
        # Bound the layout's work (crossing minimisation, network simplex) so a
        # graph at the size limit lays out in about a second, never minutes.
        "mclimit": "2",
        "nslimit": "20",
        "nslimit1": "20",
        "searchsize": "30",
        **(extra or {}),
    }
    lines = [
        "digraph lineage {",
        f"  graph [{_attrs(graph_attrs)}];",
        '  node [fontname="Helvetica", fontsize="10", margin="0.12,0.06", height="0.4"];',
        f'  edge [color="{EDGE_COLOUR}", arrowsize="0.7", fontname="Helvetica", fontsize="9", fontcolor="#475569"];',
    ]
    keys = {node.key for node in graph.nodes}
    for node in graph.nodes:
        attrs = _style(node)
        attrs["label"] = _node_label(node)
        attrs["id"] = f"node_{node.key}"
        attrs["class"] = f"mlmd-{node.kind}"
        if node.kind == MORE:
            attrs["class"] = "mlmd-more"
        if node.url:
            attrs["URL"] = node.url
            attrs["target"] = "_top"
        attrs["tooltip"] = node.tooltip or node.label
        lines.append(f"  {node.key} [{_attrs(attrs)}];")
    for edge in graph.edges:
        if edge.source not in keys or edge.target not in keys:
            continue
        attrs = {}
        label = edge.label
        if edge.count is not None:
            label = f"{edge.count}"
            attrs["penwidth"] = str(min(1 + edge.count / 10, 4))
        attrs[edge_label] = label
        lines.append(f"  {edge.source} -> {edge.target} [{_attrs(attrs)}];")
    if legend:
        lines.extend(_legend(graph))
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- rendering


# In-process drawings (within the page's size limit) lay out in about a second;
# this only stops a pathological one from holding a web process.
DEFAULT_TIMEOUT_SECONDS = 60.0
_POLL_SECONDS = 0.5


def _graphviz_command(engine: str, args: list[str], timeout: float) -> list[str]:
    """The command line that runs Graphviz so that it cannot outlive its caller or its time limit.

    ``setpriv --pdeathsig KILL`` (util-linux) kills the program when the process
    that started it dies, say a Celery worker killed mid-layout; ``timeout``
    (coreutils) kills it past the limit even when nobody is left to do so.
    Where those tools are missing (macOS) the program runs as it is, and the
    caller's own timeout still applies.
    """
    program = shutil.which(engine)
    if program is None:
        raise DrawingError(f"Graphviz is not installed (the {engine} program was not found)")
    command = [program, *args]
    setpriv = shutil.which("setpriv") if os.name == "posix" else None
    limiter = shutil.which("timeout") if os.name == "posix" else None
    if setpriv:
        command = [setpriv, "--pdeathsig", "KILL", *command]
    if limiter:
        command = [limiter, "-s", "KILL", str(int(timeout) + 5), *command]
        if setpriv:
            command = [setpriv, "--pdeathsig", "KILL", *command]
    return command


def run_graphviz(
    dot: str,
    formats: Sequence[str],
    *,
    engine: str = "dot",
    engine_args: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    on_wait: Callable[[float], bool] | None = None,
) -> dict[str, bytes]:
    """Lay out ``dot`` once and write it in each of ``formats``; the outputs by format.

    ``on_wait(elapsed_seconds)`` is called about twice a second while Graphviz
    runs (a worker's heartbeat and progress); when it returns False the layout
    is abandoned.  Past ``timeout`` seconds Graphviz is killed and
    :class:`LayoutTimeout` raised.
    """
    with tempfile.TemporaryDirectory(prefix="mlmd-graph-") as tmp:
        outputs = {fmt: Path(tmp) / f"out.{fmt}" for fmt in formats}
        args: list[str] = list(engine_args)
        for fmt, path in outputs.items():
            args += [f"-T{fmt}", f"-o{path}"]
        command = _graphviz_command(engine, args, timeout)
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise DrawingError(f"Graphviz could not be started: {exc}") from exc
        data: bytes | None = dot.encode()
        try:
            while True:
                try:
                    _, stderr = process.communicate(input=data, timeout=_POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    data = None  # already handed over: communicate() keeps writing what is left
                    elapsed = time.monotonic() - started
                    if elapsed > timeout:
                        raise LayoutTimeout(
                            f"Graphviz took longer than {timeout:.0f} s and was stopped"
                        ) from None
                    if on_wait is not None and not on_wait(elapsed):
                        raise LayoutCancelled("the layout was abandoned") from None
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        if process.returncode != 0:
            text = stderr.decode(errors="replace").strip()
            raise DrawingError(f"Graphviz failed: {text[:300] or f'exit status {process.returncode}'}")
        return {fmt: path.read_bytes() for fmt, path in outputs.items()}


def render(dot: str, fmt: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bytes:
    """Lay out DOT with Graphviz ``dot`` and return the drawing in ``fmt`` (svg or png)."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"cannot render {fmt!r}; svg or png")
    return run_graphviz(dot, [fmt], timeout=timeout)[fmt]


def render_positioned(layout: str, fmt: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bytes:
    """Draw a graph whose positions ``dot -Tdot`` already computed (``neato -n2``: no layout again)."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"cannot render {fmt!r}; svg or png")
    return run_graphviz(layout, [fmt], engine="neato", engine_args=["-n2"], timeout=timeout)[fmt]


def render_svg(dot: str) -> str:
    return render(dot, "svg").decode()


def inline_svg(svg: str) -> str:
    """The ``<svg>`` element alone, for embedding in an HTML page (no XML prolog or doctype)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


# ---------------------------------------------------------------------------- summaries


def summary_graph(
    node_counts: Sequence[TypeCount], edge_counts: Sequence[TypeEdgeCount], *, title: str = ""
) -> GraphData:
    """A large graph collapsed to its execution types and artifact types, with counts on nodes and edges."""
    prefix = {ARTIFACT: "ta", EXECUTION: "te"}
    nodes = [
        GraphNode(
            key=f"{prefix[c.kind]}{c.type_id}",
            kind=c.kind,
            label=c.type_name,
            type_name=c.type_name,
            count=c.count,
            failed=c.failed,
            url=c.url,
            shape_hint=c.shape_hint,
            tooltip=f"{c.count} {c.kind}{'s' if c.count != 1 else ''} of type {c.type_name}"
            + (f", {c.failed} failed" if c.failed else ""),
        )
        for c in sorted(node_counts, key=lambda c: (c.kind, c.type_name.lower(), c.type_id))
    ]
    merged: Counter[tuple[str, str]] = Counter()
    for e in edge_counts:
        merged[(f"{prefix[e.source_kind]}{e.source_type_id}", f"{prefix[e.target_kind]}{e.target_type_id}")] += e.count
    edges = [GraphEdge(source=s, target=t, count=n) for (s, t), n in sorted(merged.items())]
    return GraphData(nodes=nodes, edges=edges, title=title, summary=True)


def summarize(graph: GraphData, type_ids: dict[str, int] | None = None) -> GraphData:
    """Collapse a drawn-size graph to its types (``summary_graph`` over counts made from the nodes).

    ``type_ids`` maps ``kind:type_name`` to a type id; without it, types are
    numbered in order of appearance.
    """
    ids: dict[tuple[str, str], int] = {}
    for node in graph.nodes:
        name_key = (node.kind, node.type_name or "?")
        if name_key not in ids:
            ids[name_key] = (type_ids or {}).get(f"{node.kind}:{node.type_name}", len(ids) + 1)
    counts: Counter[tuple[str, str]] = Counter()
    failed: Counter[tuple[str, str]] = Counter()
    hints: dict[tuple[str, str], str] = {}
    by_key = {}
    for node in graph.nodes:
        name_key = (node.kind, node.type_name or "?")
        counts[name_key] += node.count or 1
        failed[name_key] += node.failed or (1 if node.state in FAILED_STATES else 0)
        hints[name_key] = node.shape_hint
        by_key[node.key] = name_key
    edge_counts: Counter[tuple[tuple[str, str], tuple[str, str]]] = Counter()
    for edge in graph.edges:
        if edge.source in by_key and edge.target in by_key:
            edge_counts[(by_key[edge.source], by_key[edge.target])] += edge.count or 1
    return summary_graph(
        [
            TypeCount(
                kind=k, type_id=ids[(k, n)], type_name=n, count=c, failed=failed[(k, n)], shape_hint=hints[(k, n)]
            )
            for (k, n), c in counts.items()
        ],
        [
            TypeEdgeCount(source_kind=s[0], source_type_id=ids[s], target_kind=t[0], target_type_id=ids[t], count=c)
            for (s, t), c in edge_counts.items()
        ],
        title=graph.title,
    )
