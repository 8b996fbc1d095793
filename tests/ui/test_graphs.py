"""Pure tests of lineage_ui.graphs: data in, DOT (and SVG) out; no database."""

from __future__ import annotations

import re

import pytest

from lineage_ui import graphs
from lineage_ui.graphs import ARTIFACT, EXECUTION, GraphData, GraphEdge, GraphNode, TypeCount, TypeEdgeCount


def small_graph() -> GraphData:
    return GraphData(
        nodes=[
            GraphNode("a1", ARTIFACT, "taxi-span-1", type_name="Examples", url="/artifacts/1/", shape_hint="dataset"),
            GraphNode("e2", EXECUTION, "trainer-1", type_name="Trainer", state="COMPLETE", url="/executions/2/"),
            GraphNode("e3", EXECUTION, "trainer-2", type_name="Trainer", state="FAILED", url="/executions/3/"),
            GraphNode(
                "a4", ARTIFACT, "model-1", type_name="Model", url="/artifacts/4/", shape_hint="model", focus=True
            ),
        ],
        edges=[GraphEdge("a1", "e2"), GraphEdge("a1", "e3"), GraphEdge("e2", "a4")],
        title="run-1",
    )


def node_line(dot: str, key: str) -> str:
    match = re.search(rf"^  {key} \[(.*)\];$", dot, re.MULTILINE)
    assert match, f"no node {key} in\n{dot}"
    return match.group(1)


def test_dot_has_nodes_edges_and_links() -> None:
    dot = graphs.to_dot(small_graph())
    assert dot.startswith("digraph lineage {")
    assert 'rankdir="LR"' in dot
    for key, url in (
        ("a1", "/artifacts/1/"),
        ("e2", "/executions/2/"),
        ("e3", "/executions/3/"),
        ("a4", "/artifacts/4/"),
    ):
        line = node_line(dot, key)
        assert f'URL="{url}"' in line
        assert 'target="_top"' in line
        assert f'id="node_{key}"' in line
    assert "  a1 -> e2 [" in dot
    assert "  a1 -> e3 [" in dot
    assert "  e2 -> a4 [" in dot


def test_shapes_and_colours_by_kind_type_and_state() -> None:
    dot = graphs.to_dot(small_graph())
    assert 'shape="box"' in node_line(dot, "e2")
    assert 'shape="cylinder"' in node_line(dot, "a1")  # a dataset
    assert 'shape="box3d"' in node_line(dot, "a4")  # a model
    assert f'fillcolor="{graphs.type_colour("Trainer")}"' in node_line(dot, "e2")
    assert f'fillcolor="{graphs.type_colour("Examples")}"' in node_line(dot, "a1")
    failed = node_line(dot, "e3")
    assert f'fillcolor="{graphs.FAILED_FILL}"' in failed
    assert f'color="{graphs.FAILED_LINE}"' in failed
    assert 'penwidth="2.5"' in failed
    assert graphs.FAILED_LINE not in node_line(dot, "e2")
    assert f'color="{graphs.FOCUS_LINE}"' in node_line(dot, "a4")


def test_type_colours_are_stable() -> None:
    assert graphs.type_colour("Trainer") == graphs.type_colour("Trainer")
    assert graphs.type_colour("Trainer") in graphs.PALETTE


def test_legend_shows_types_and_states() -> None:
    dot = graphs.to_dot(small_graph())
    legend = dot[dot.index("subgraph cluster_legend") :]
    for name in ("Examples", "Trainer", "Model", "failed execution", "this artifact"):
        assert f'label="{name}"' in legend
    assert "running" not in legend
    assert "cluster_legend" not in graphs.to_dot(small_graph(), legend=False)


def test_labels_are_escaped_and_shortened() -> None:
    graph = GraphData(nodes=[GraphNode("a1", ARTIFACT, 'evil "name" \\ with\nnewline and a very long tail indeed')])
    line = node_line(graphs.to_dot(graph, legend=False), "a1")
    assert 'evil \\"name\\" \\\\ with\\nnewline' in line
    assert "…" in line


def test_edges_to_unknown_nodes_are_dropped() -> None:
    graph = GraphData(nodes=[GraphNode("a1", ARTIFACT, "x")], edges=[GraphEdge("a1", "e9")])
    assert "->" not in graphs.to_dot(graph, legend=False)


def test_summary_graph_counts_types() -> None:
    graph = graphs.summary_graph(
        [
            TypeCount(EXECUTION, 5, "Trainer", 120, failed=3, url="/executions/type/5/"),
            TypeCount(ARTIFACT, 2, "Model", 117, url="/artifacts/type/2/"),
            TypeCount(ARTIFACT, 1, "Examples", 1),
        ],
        [TypeEdgeCount(ARTIFACT, 1, EXECUTION, 5, 120), TypeEdgeCount(EXECUTION, 5, ARTIFACT, 2, 117)],
        title="big run",
    )
    assert graph.summary
    dot = graphs.to_dot(graph)
    trainer = node_line(dot, "te5")
    assert "× 120" in trainer
    assert "3 failed" in trainer
    assert f'color="{graphs.FAILED_LINE}"' in trainer
    assert 'URL="/executions/type/5/"' in trainer
    assert re.search(r'  ta1 -> te5 \[.*label="120"', dot)
    assert re.search(r'  te5 -> ta2 \[.*label="117"', dot)


def test_summarize_collapses_a_graph_to_its_types() -> None:
    summary = graphs.summarize(small_graph(), {"execution:Trainer": 7})
    by_name = {n.type_name: n for n in summary.nodes}
    assert by_name["Trainer"].count == 2
    assert by_name["Trainer"].failed == 1
    assert by_name["Trainer"].key == "te7"
    assert {(e.source, e.target, e.count) for e in summary.edges} == {
        (by_name["Examples"].key, "te7", 2),
        ("te7", by_name["Model"].key, 1),
    }


@pytest.mark.parametrize(
    ("name", "base", "hint"),
    [
        ("SavedModel", "", "model"),
        ("Whatever", "MODEL", "model"),
        ("ModelEvaluation", "", "metrics"),
        ("ModelEvaluation", "METRICS", "metrics"),
        ("Examples", "", "dataset"),
        ("Schema", "", ""),
    ],
)
def test_shape_hints(name: str, base: str, hint: str) -> None:
    assert graphs.shape_hint_for(name, base) == hint


def test_render_svg_keeps_links_and_ids() -> None:
    svg = graphs.render_svg(graphs.to_dot(small_graph()))
    assert 'xlink:href="/executions/3/"' in svg
    assert 'id="node_e3"' in svg
    inline = graphs.inline_svg(svg)
    assert inline.startswith("<svg")
    assert "<?xml" not in inline


def test_render_png() -> None:
    assert graphs.render(graphs.to_dot(small_graph()), "png").startswith(b"\x89PNG")


def test_render_refuses_other_formats() -> None:
    with pytest.raises(ValueError):
        graphs.render("digraph {}", "pdf")


def test_render_reports_graphviz_errors() -> None:
    with pytest.raises(graphs.DrawingError):
        graphs.render("digraph { this is not dot", "svg")
