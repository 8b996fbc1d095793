"""Pure tests of lineage_ui.grouping: parallel nodes become one node with a count; the cap; expansion."""

from __future__ import annotations

from lineage_ui import graphs, grouping
from lineage_ui.graphs import ARTIFACT, EXECUTION, MORE, GraphData, GraphEdge, GraphNode


def fan_out(width: int, *, failed: set[int] | frozenset[int] = frozenset()) -> GraphData:
    """split → shard_i → train_i → model_i → evaluate_i (+ a shared test set) → metrics_i → aggregate."""
    nodes = [
        GraphNode("e1", EXECUTION, "split", type_name="Split"),
        GraphNode("a1", ARTIFACT, "test-set", type_name="TestSet"),
        GraphNode("e2", EXECUTION, "aggregate", type_name="Aggregate"),
        GraphNode("a2", ARTIFACT, "report", type_name="Report"),
    ]
    edges = [GraphEdge("e2", "a2")]
    for i in range(width):
        base = 100 + 10 * i
        shard, train, model, evaluate, metrics = (f"a{base}", f"e{base + 1}", f"a{base + 2}", f"e{base + 3}", f"a{base + 4}")
        state = "FAILED" if i in failed else "COMPLETE"
        nodes += [
            GraphNode(shard, ARTIFACT, f"shard-{i}", type_name="Shard"),
            GraphNode(train, EXECUTION, f"train-{i}", type_name="Trainer", state=state),
            GraphNode(model, ARTIFACT, f"model-{i}", type_name="Model", shape_hint="model"),
            GraphNode(evaluate, EXECUTION, f"evaluate-{i}", type_name="Evaluator"),
            GraphNode(metrics, ARTIFACT, f"metrics-{i}", type_name="Metrics"),
        ]
        edges += [
            GraphEdge("e1", shard),
            GraphEdge(shard, train),
            GraphEdge(train, model),
            GraphEdge(model, evaluate),
            GraphEdge("a1", evaluate),
            GraphEdge(evaluate, metrics),
            GraphEdge(metrics, "e2"),
        ]
    return GraphData(nodes=nodes, edges=edges, title="fan-out")


def by_type(grouped: grouping.Grouped) -> dict[str, list[GraphNode]]:
    found: dict[str, list[GraphNode]] = {}
    for node in grouped.graph.nodes:
        found.setdefault(node.type_name, []).append(node)
    return found


def test_parallel_steps_become_one_node_with_a_count() -> None:
    grouped = grouping.group_graph(fan_out(50), max_nodes=1000, expand_url=lambda key: f"?expand={key}")
    nodes = by_type(grouped)
    assert grouped.total_nodes == 4 + 5 * 50
    assert len(grouped.graph.nodes) == 9  # split, test set, aggregate, report and five groups
    for name in ("Shard", "Trainer", "Model", "Evaluator", "Metrics"):
        (group,) = nodes[name]
        assert group.count == 50
        assert group.url == f"?expand={group.key}"
        assert "click to draw them one by one" in group.tooltip
    assert nodes["Split"][0].count is None  # a single node stays itself
    edges = {(e.source, e.target): e.count for e in grouped.graph.edges}
    trainer, model = nodes["Trainer"][0].key, nodes["Model"][0].key
    assert edges[(trainer, model)] == 50  # one edge, counting the 50 events
    assert edges[("a1", nodes["Evaluator"][0].key)] == 50  # the shared test set feeds every evaluation
    assert grouped.groups == 5
    assert grouped.hidden_nodes == 0


def test_failed_executions_are_their_own_group() -> None:
    grouped = grouping.group_graph(fan_out(20, failed={3, 7}), max_nodes=1000)
    trainers = sorted(by_type(grouped)["Trainer"], key=lambda n: n.count or 1)
    assert [t.count for t in trainers] == [2, 18]
    assert trainers[0].failed == 2
    assert trainers[1].failed == 0
    dot = graphs.to_dot(grouped.graph)
    assert graphs.FAILED_LINE in dot  # the failed group is drawn red


def test_a_chain_of_one_type_is_not_folded() -> None:
    nodes = []
    edges = []
    for i in range(10):
        nodes += [GraphNode(f"e{i}", EXECUTION, f"step-{i}", type_name="Step"), GraphNode(f"a{i}", ARTIFACT, f"out-{i}", type_name="Out")]
        edges.append(GraphEdge(f"e{i}", f"a{i}"))
        if i:
            edges.append(GraphEdge(f"a{i - 1}", f"e{i}"))
    grouped = grouping.group_graph(GraphData(nodes, edges), max_nodes=100)
    assert len(grouped.graph.nodes) == 20
    assert grouped.groups == 0


def test_group_keys_stay_the_same_as_the_run_grows() -> None:
    small = {n.type_name: n.key for n in grouping.group_graph(fan_out(10), max_nodes=1000).graph.nodes}
    large = {n.type_name: n.key for n in grouping.group_graph(fan_out(300), max_nodes=1000).graph.nodes}
    assert small == large


def test_expanding_a_group_draws_its_members() -> None:
    graph = fan_out(30)
    collapsed = grouping.group_graph(graph, max_nodes=1000)
    trainer_key = by_type(collapsed)["Trainer"][0].key
    expanded = grouping.group_graph(graph, max_nodes=1000, expand=trainer_key)
    trainers = by_type(expanded)["Trainer"]
    assert len(trainers) == 30
    assert {t.key for t in trainers} == {f"e{100 + 10 * i + 1}" for i in range(30)}
    assert all(t.count is None for t in trainers)
    assert by_type(expanded)["Model"][0].count == 30  # the other groups stay collapsed
    assert expanded.index["expanded"] == trainer_key
    (row,) = [r for r in expanded.index["groups"] if r["key"] == trainer_key]
    assert row["expanded"] and row["count"] == 30
    missing = grouping.group_graph(graph, max_nodes=1000, expand="g00000000000")
    assert missing.index["expand_missing"] is True
    assert len(missing.graph.nodes) == len(collapsed.graph.nodes)


def test_an_expanded_group_larger_than_the_cap_is_drawn_in_part() -> None:
    graph = fan_out(200)
    trainer_key = by_type(grouping.group_graph(graph, max_nodes=1000))["Trainer"][0].key
    expanded = grouping.group_graph(graph, max_nodes=60, expand=trainer_key)
    trainers = by_type(expanded)["Trainer"]
    singles = [t for t in trainers if t.count is None]
    (rest,) = [t for t in trainers if t.count is not None]
    assert len(singles) + (rest.count or 0) == 200
    assert len(expanded.graph.nodes) <= 60
    assert expanded.index["expanded_rest"] == rest.count


def test_the_cap_leaves_nodes_out_with_a_note() -> None:
    nodes = [GraphNode(f"e{i}", EXECUTION, f"step-{i}", type_name="Step") for i in range(50)]
    nodes += [GraphNode(f"a{i}", ARTIFACT, f"out-{i}", type_name="Out") for i in range(50)]
    edges = [GraphEdge(f"e{i}", f"a{i}") for i in range(50)] + [GraphEdge(f"a{i}", f"e{i + 1}") for i in range(49)]
    grouped = grouping.group_graph(GraphData(nodes, edges), max_nodes=30)
    assert len(grouped.graph.nodes) == 30
    more = grouped.graph.nodes[-1]
    assert more.kind == MORE
    assert grouped.hidden_nodes == 100 - 29
    assert more.label == f"… {grouped.hidden_nodes} more"
    assert grouped.index["hidden"] == {"total": 71, "executions": 35, "artifacts": 36}
    kept = {n.key for n in grouped.graph.nodes}
    assert "e0" in kept and "e49" not in kept  # the start of the pipeline is kept
    assert any(e.target == grouping.MORE_KEY for e in grouped.graph.edges)
    dot = graphs.to_dot(grouped.graph)
    assert 'class="mlmd-more"' in dot
    assert "71 more nodes (35 executions, 36 artifacts) are not drawn" in dot


def test_nodes_on_a_cycle_are_never_grouped() -> None:
    # An execution that reads and writes the same artifact: MLMD allows it.
    nodes = [GraphNode(f"e{i}", EXECUTION, f"fix-{i}", type_name="Fix") for i in range(3)]
    nodes += [GraphNode(f"a{i}", ARTIFACT, f"table-{i}", type_name="Table") for i in range(3)]
    edges = [GraphEdge(f"a{i}", f"e{i}") for i in range(3)] + [GraphEdge(f"e{i}", f"a{i}") for i in range(3)]
    grouped = grouping.group_graph(GraphData(nodes, edges), max_nodes=100)
    assert grouped.groups == 0
    assert len(grouped.graph.nodes) == 6


def test_virtual_nodes_count_the_ranks_long_edges_cross() -> None:
    nodes = [GraphNode(f"e{i}", EXECUTION, f"s{i}", type_name=f"T{i}") for i in range(5)]
    edges = [GraphEdge(f"e{i}", f"e{i + 1}") for i in range(4)] + [GraphEdge("e0", "e4")]
    grouped = grouping.group_graph(GraphData(nodes, edges), max_nodes=100)
    assert grouped.virtual_nodes == 3  # e0 → e4 crosses ranks 1, 2 and 3
    assert graphs.layout_effort(10) == {}
    assert graphs.layout_effort(10**6)["splines"] == "line"
