"""Make a large lineage graph drawable: group parallel nodes, cap the node count.

Pure functions, like ``lineage_ui.graphs``: a :class:`~lineage_ui.graphs.GraphData`
with every execution and artifact of a context in, a smaller ``GraphData`` and a
JSON-able node index out.  The background worker (``lineage_ui.precompute``)
runs them before handing the result to Graphviz.

Why grouping: pipelines fan out (a thousand trainers on a thousand shards, an
evaluation per model), and ``dot`` on tens of thousands of nodes takes too
long and draws an unreadable hairball anyway.  Nodes that play the same part
in the DAG are drawn as one node with a count:

- same kind and type (and, for executions, the same outcome: failed, still
  running, or other, so that failures stay visible as their own node);
- same *depth* (longest path from a source): parallel nodes sit side by side,
  so a group never contains both ends of an edge and the grouped graph stays
  a DAG; a long chain of steps of one type is not folded into one node;
- same shape: the same set of (kind, type) among the nodes they read from and
  the nodes they write to.

A group's key is a digest of that description, so it stays the same while the
pipeline grows (a bookmarked ``?expand=`` keeps working).  One group at a time
may be expanded (drawn member by member).  Whatever remains above ``max_nodes``
is left out, shallowest nodes kept first, and one "N more" node says what and
how much was left out.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lineage_ui.graphs import (
    ARTIFACT,
    EXECUTION,
    FAILED_STATES,
    MORE,
    RUNNING_STATES,
    GraphData,
    GraphEdge,
    GraphNode,
)

MIN_GROUP = 2  # a "group" of one is drawn as the node itself
INDEX_MEMBER_IDS = 20  # member ids kept per group in the node index
MORE_KEY = "more"


@dataclass
class Grouped:
    """The drawable graph and what it stands for."""

    graph: GraphData
    index: dict[str, Any] = field(default_factory=dict)
    total_nodes: int = 0
    hidden_nodes: int = 0
    groups: int = 0
    # Ranks crossed by edges beyond their first: Graphviz adds a virtual node for each,
    # and its time grows with them far more than with the real nodes.
    virtual_nodes: int = 0


def _outcome(node: GraphNode) -> str:
    if node.kind != EXECUTION:
        return ""
    if node.state in FAILED_STATES:
        return "failed"
    if node.state in RUNNING_STATES:
        return "running"
    return ""


def depths(nodes: list[GraphNode], edges: list[GraphEdge]) -> dict[str, int]:
    """Longest path from a source to each node; nodes on a cycle get -1 (they are never grouped).

    MLMD does not forbid an execution that reads and writes the same artifact,
    so the event graph may have cycles: Kahn's algorithm leaves their nodes over.
    """
    succ: dict[str, list[str]] = defaultdict(list)
    indegree: dict[str, int] = {n.key: 0 for n in nodes}
    for edge in edges:
        if edge.source in indegree and edge.target in indegree:
            succ[edge.source].append(edge.target)
            indegree[edge.target] += 1
    depth = {key: 0 for key in indegree}
    ready = deque(key for key, d in indegree.items() if d == 0)
    done: set[str] = set()
    while ready:
        key = ready.popleft()
        done.add(key)
        for target in succ[key]:
            depth[target] = max(depth[target], depth[key] + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    for key in indegree:
        if key not in done:
            depth[key] = -1
    return depth


def group_key(description: tuple[Any, ...]) -> str:
    """A short stable name for a group (it goes in URLs: ``?expand=g1a2b3c4d5e``)."""
    return "g" + hashlib.sha1(repr(description).encode()).hexdigest()[:11]


def _member_id(key: str) -> int | str:
    tail = key[1:]
    return int(tail) if tail.isdigit() else key


def group_graph(
    graph: GraphData,
    *,
    max_nodes: int,
    expand: str = "",
    expand_url: Callable[[str], str] | None = None,
    min_group: int = MIN_GROUP,
) -> Grouped:
    """Group parallel nodes of ``graph``, expand the group ``expand``, and keep at most ``max_nodes`` nodes."""
    max_nodes = max(int(max_nodes), 2)
    nodes = graph.nodes
    by_key = {n.key: n for n in nodes}
    edges = [e for e in graph.edges if e.source in by_key and e.target in by_key]
    depth = depths(nodes, edges)
    preds: dict[str, set[tuple[str, str]]] = defaultdict(set)
    succs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for edge in edges:
        source, target = by_key[edge.source], by_key[edge.target]
        succs[source.key].add((target.kind, target.type_name))
        preds[target.key].add((source.kind, source.type_name))

    # Members of each group, in the graph's order (ids ascending: the loader sorts them).
    members: dict[str, list[GraphNode]] = {}
    description_of: dict[str, tuple[Any, ...]] = {}
    for node in nodes:
        d = depth[node.key]
        if d < 0:
            description: tuple[Any, ...] = ("cycle", node.key)
        else:
            description = (
                node.kind,
                node.type_name,
                _outcome(node),
                d,
                tuple(sorted(preds[node.key])),
                tuple(sorted(succs[node.key])),
            )
        key = group_key(description)
        members.setdefault(key, []).append(node)
        description_of[key] = description

    # What each original node is drawn as: itself, or its group's node.
    drawn_as: dict[str, str] = {}
    drawn: list[GraphNode] = []
    order: dict[str, tuple[int, int, int]] = {}
    group_rows: list[dict[str, Any]] = []
    expanded_rest: list[GraphNode] = []
    for position, (key, group) in enumerate(members.items()):
        first = group[0]
        node_depth = depth[first.key]
        if len(group) < min_group:
            drawn_as[first.key] = first.key
            drawn.append(first)
            order[first.key] = (node_depth, position, 0)
            continue
        failed = sum(1 for n in group if n.state in FAILED_STATES)
        outcome = _outcome(first)
        group_rows.append(
            {
                "key": key,
                "kind": first.kind,
                "type": first.type_name,
                "count": len(group),
                "failed": failed,
                "outcome": outcome,
                "depth": node_depth,
                "expanded": key == expand,
                "ids": [_member_id(n.key) for n in group[:INDEX_MEMBER_IDS]],
            }
        )
        if key == expand:
            for offset, member in enumerate(group):
                drawn_as[member.key] = member.key
                drawn.append(member)
                order[member.key] = (node_depth, position, offset)
            continue
        plural = "executions" if first.kind == EXECUTION else "artifacts"
        outcome_text = f" ({outcome})" if outcome else ""
        group_node = GraphNode(
            key=key,
            kind=first.kind,
            label=first.type_name,
            type_name=first.type_name,
            state="RUNNING" if outcome == "running" else "",
            url=expand_url(key) if expand_url else "",
            tooltip=(
                f"{len(group)} {plural} of type {first.type_name}{outcome_text} side by side, "
                f"with the same kinds of inputs and outputs" + (f"; {failed} failed" if failed else "")
                + (": click to draw them one by one" if expand_url else "")
            ),
            shape_hint=first.shape_hint,
            count=len(group),
            failed=failed,
        )
        for member in group:
            drawn_as[member.key] = key
        drawn.append(group_node)
        order[key] = (node_depth, position, 0)

    # An expanded group larger than the cap allows: its first members one by one, the rest as a group.
    if expand and expand in members and len(members[expand]) >= min_group:
        group = members[expand]
        others = len(drawn) - len(group)
        budget = max(max_nodes - others - 1, min(50, max_nodes // 2))
        if len(group) > budget:
            shown, expanded_rest = group[:budget], group[budget:]
            rest_keys = {m.key for m in expanded_rest}
            drawn = [n for n in drawn if n.key not in rest_keys]
            first = expanded_rest[0]
            rest_key = f"{expand}r"
            failed = sum(1 for n in expanded_rest if n.state in FAILED_STATES)
            drawn.append(
                GraphNode(
                    key=rest_key,
                    kind=first.kind,
                    label=first.type_name,
                    type_name=first.type_name,
                    tooltip=f"{len(expanded_rest)} more {first.type_name} of this group, not drawn one by one",
                    shape_hint=first.shape_hint,
                    count=len(expanded_rest),
                    failed=failed,
                )
            )
            order[rest_key] = (depth[first.key], order[shown[-1].key][1], len(shown))
            for member in expanded_rest:
                drawn_as[member.key] = rest_key

    # The cap: shallowest first (the start of the pipeline), in the graph's order within a depth.
    drawn.sort(key=lambda n: (order[n.key][0] < 0, order[n.key]))
    hidden_nodes: list[GraphNode] = []
    if len(drawn) > max_nodes:
        kept, dropped = drawn[: max_nodes - 1], drawn[max_nodes - 1 :]
        drawn = kept
        hidden_nodes = dropped
    kept_keys = {n.key for n in drawn}
    hidden_counts: Counter[str] = Counter()
    for node in hidden_nodes:
        hidden_counts[node.kind] += node.count or 1

    edge_counts: Counter[tuple[str, str]] = Counter()
    to_more: set[str] = set()
    for edge in edges:
        tail, head = drawn_as[edge.source], drawn_as[edge.target]
        if tail in kept_keys and head in kept_keys:
            edge_counts[(tail, head)] += 1
        elif tail in kept_keys:
            to_more.add(tail)
    grouped_keys = {row["key"] for row in group_rows if not row["expanded"]} | (
        {f"{expand}r"} if expanded_rest else set()
    )
    out_edges = [
        GraphEdge(s, t, count=n if (n > 1 or s in grouped_keys or t in grouped_keys) else None)
        for (s, t), n in edge_counts.items()
    ]
    hidden_total = sum(hidden_counts.values())
    drawn_depth = {key: max(order[key][0], 0) for key in kept_keys}
    deepest = max(drawn_depth.values(), default=0)
    virtual = sum(max(0, drawn_depth[t] - drawn_depth[s] - 1) for s, t in edge_counts)
    virtual += sum(max(0, deepest - drawn_depth[key]) for key in to_more) if hidden_nodes else 0
    if hidden_nodes:
        executions = hidden_counts.get(EXECUTION, 0)
        artifacts = hidden_counts.get(ARTIFACT, 0)
        drawn.append(
            GraphNode(
                key=MORE_KEY,
                kind=MORE,
                label=f"… {hidden_total} more",
                tooltip=(
                    f"{hidden_total} more nodes ({executions} executions, {artifacts} artifacts) are not drawn: "
                    f"a drawing shows at most {max_nodes} nodes. Expand fewer groups, or open a node's own lineage."
                ),
            )
        )
        out_edges.extend(GraphEdge(key, MORE_KEY) for key in sorted(to_more))

    index = {
        "groups": sorted(group_rows, key=lambda row: (row["depth"], row["kind"] != EXECUTION, row["type"])),
        "expanded": expand if expand in members else "",
        "expand_missing": bool(expand) and expand not in members,
        "expanded_rest": len(expanded_rest),
        "hidden": {
            "total": hidden_total,
            "executions": hidden_counts.get(EXECUTION, 0),
            "artifacts": hidden_counts.get(ARTIFACT, 0),
        },
        "total": {
            "executions": sum(1 for n in nodes if n.kind == EXECUTION),
            "artifacts": sum(1 for n in nodes if n.kind == ARTIFACT),
        },
        "max_nodes": max_nodes,
        "drawn_nodes": len(drawn),
        "nodes": {n.key: [n.kind, n.label, n.count or 1] for n in drawn},
    }
    return Grouped(
        graph=GraphData(nodes=drawn, edges=out_edges, title=graph.title),
        index=index,
        total_nodes=len(nodes),
        hidden_nodes=hidden_total,
        groups=sum(1 for row in group_rows if not row["expanded"]),
        virtual_nodes=virtual,
    )
