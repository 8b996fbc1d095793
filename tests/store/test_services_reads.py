"""The core's reads: list options and paging, lineage without a hop limit, the cache lookup."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from store.models import Artifact, Event, Execution
from store.proto import metadata_store_pb2 as pb
from store.services import cache, lineage
from store.services.errors import InvalidArgument
from store.services.filter_query import id_literals
from tests.store.mlmd import (
    artifact_type,
    call,
    context_type,
    event,
    execution_type,
    put_artifacts,
    put_contexts,
    put_executions,
)

pytestmark = pytest.mark.django_db

Order = pb.ListOperationOptions.OrderByField


def _page(options: pb.ListOperationOptions) -> tuple[list[int], str]:
    response = call("GetArtifacts", options=options)
    return [a.id for a in response.artifacts], response.next_page_token


def test_paging_walks_every_row_once_while_rows_are_added_between_pages() -> None:
    type_id = artifact_type()
    first_batch = put_artifacts(*(pb.Artifact(type_id=type_id, uri=f"u{i}") for i in range(7)))
    seen: list[int] = []
    options = pb.ListOperationOptions(max_result_size=3, order_by_field=Order(field=Order.ID, is_asc=True))
    ids, token = _page(options)
    seen += ids
    added = put_artifacts(*(pb.Artifact(type_id=type_id, uri=f"late{i}") for i in range(2)))
    while token:
        options.next_page_token = token
        ids, token = _page(options)
        seen += ids
    assert seen == first_batch + added  # no repeats, no gaps, new rows at the end


def test_descending_create_time_with_ties_broken_by_id() -> None:
    type_id = artifact_type()
    ids = put_artifacts(*(pb.Artifact(type_id=type_id) for _ in range(5)))  # one batch: same create time
    Artifact.objects.filter(id__in=ids).update(create_time_since_epoch=1000)
    options = pb.ListOperationOptions(max_result_size=2, order_by_field=Order(field=Order.CREATE_TIME, is_asc=False))
    seen: list[int] = []
    while True:
        page, token = _page(options)
        seen += page
        if not token:
            break
        options.next_page_token = token
    assert seen == sorted(ids, reverse=True)


@pytest.mark.parametrize("token", ["garbage!!", "eyJ2IjoxfQ", ""])
def test_malformed_page_tokens_are_invalid_argument(token: str) -> None:
    type_id = artifact_type()
    put_artifacts(*(pb.Artifact(type_id=type_id) for _ in range(3)))
    if not token:
        return
    with pytest.raises(InvalidArgument, match="next_page_token"):
        _page(pb.ListOperationOptions(max_result_size=1, next_page_token=token))


def test_a_token_from_another_query_is_refused() -> None:
    type_id = artifact_type()
    put_artifacts(*(pb.Artifact(type_id=type_id) for _ in range(3)))
    _, token = _page(pb.ListOperationOptions(max_result_size=1))
    other_order = pb.ListOperationOptions(
        max_result_size=1, next_page_token=token, order_by_field=Order(field=Order.CREATE_TIME)
    )
    with pytest.raises(InvalidArgument, match="another query"):
        _page(other_order)


def test_list_reads_use_a_fixed_number_of_queries() -> None:
    type_id = artifact_type()
    [context_id] = put_contexts(pb.Context(type_id=context_type(), name="c"))

    def queries_for(n: int) -> int:
        ids = put_artifacts(
            *(pb.Artifact(type_id=type_id, properties={"day": pb.Value(int_value=i)}) for i in range(n))
        )
        call("PutAttributionsAndAssociations", attributions=[pb.Attribution(artifact_id=i, context_id=context_id) for i in ids])
        with CaptureQueriesContext(connection) as captured:
            response = call("GetArtifactsByContext", context_id=context_id)
        assert len(response.artifacts) >= n
        return len(captured)

    assert queries_for(3) == queries_for(60)


def _chain(steps: int) -> tuple[list[int], list[int]]:
    """artifact_0 → execution_1 → artifact_1 → … → artifact_steps, written in bulk."""
    a_type, e_type = artifact_type(), execution_type()
    artifacts = Artifact.objects.bulk_create([Artifact(type_id=a_type, uri=f"a{i}") for i in range(steps + 1)])
    executions = Execution.objects.bulk_create([Execution(type_id=e_type, name=f"e{i}") for i in range(steps)])
    events = []
    for i, execution in enumerate(executions):
        events.append(Event(artifact_id=artifacts[i].id, execution_id=execution.id, type=pb.Event.INPUT))
        events.append(Event(artifact_id=artifacts[i + 1].id, execution_id=execution.id, type=pb.Event.OUTPUT))
    Event.objects.bulk_create(events, batch_size=2000)
    return [a.id for a in artifacts], [e.id for e in executions]


def _subgraph(start: str, direction: int, hops: int | None = None, **extra: object) -> pb.LineageGraph:
    options = pb.LineageSubgraphQueryOptions(direction=direction, **extra)  # type: ignore[arg-type]
    options.starting_artifacts.filter_query = start
    if hops is not None:
        options.max_num_hops = hops
    return call("GetLineageSubgraph", lineage_subgraph_query_options=options).lineage_subgraph


@pytest.mark.slow
def test_a_10000_step_chain_is_traversed_whole_in_one_call() -> None:
    artifacts, _ = _chain(10_000)
    up = _subgraph(f"id = {artifacts[-1]}", pb.LineageSubgraphQueryOptions.UPSTREAM)
    assert len(up.artifacts) == 10_001 and len(up.executions) == 10_000
    assert len(up.events) == 20_000
    down = _subgraph(f"id = {artifacts[0]}", pb.LineageSubgraphQueryOptions.DOWNSTREAM)
    assert {a.id for a in down.artifacts} == set(artifacts)


def test_the_lineage_subgraph_method_gives_nodes_by_id_as_ml_metadata_does() -> None:
    artifacts, executions = _chain(3)
    [run] = put_contexts(pb.Context(type_id=context_type(), name="run"))
    call(
        "PutAttributionsAndAssociations",
        attributions=[pb.Attribution(context_id=run, artifact_id=a) for a in artifacts],
        associations=[pb.Association(context_id=run, execution_id=e) for e in executions],
    )
    options = pb.LineageSubgraphQueryOptions(direction=pb.LineageSubgraphQueryOptions.UPSTREAM)
    options.starting_artifacts.filter_query = f"id = {artifacts[-1]}"

    graph = call("GetLineageSubgraph", lineage_subgraph_query_options=options).lineage_subgraph
    assert list(graph.artifacts) == [pb.Artifact(id=a) for a in artifacts]
    assert list(graph.executions) == [pb.Execution(id=e) for e in executions]
    assert list(graph.contexts) == [pb.Context(id=run)]
    assert len(graph.events) == 6 and len(graph.attributions) == 4 and len(graph.associations) == 3
    # Types are still whole: those of the nodes reached.
    assert [t.name for t in graph.artifact_types] == ["DataSet"]
    assert [t.name for t in graph.execution_types] == ["Trainer"]
    assert [t.name for t in graph.context_types] == ["Experiment"]
    typed = call(
        "GetLineageSubgraph", lineage_subgraph_query_options=options, read_mask={"paths": ["execution_types"]}
    ).lineage_subgraph
    assert [t.name for t in typed.execution_types] == ["Trainer"] and not typed.executions and not typed.artifact_types

    # The REST API and the dashboard read the nodes whole, in the same walk.
    whole = lineage.lineage_subgraph(options)
    assert [a.uri for a in whole.artifacts] == [f"a{i}" for i in range(4)]
    assert [e.name for e in whole.executions] == [f"e{i}" for i in range(3)]
    assert [c.name for c in whole.contexts] == ["run"]


def test_hops_direction_and_field_mask() -> None:
    artifacts, executions = _chain(5)
    middle = artifacts[2]
    up2 = _subgraph(f"id = {middle}", pb.LineageSubgraphQueryOptions.UPSTREAM, hops=2)
    assert {a.id for a in up2.artifacts} == {artifacts[1], middle}
    assert {e.id for e in up2.executions} == {executions[1]}
    down1 = _subgraph(f"id = {middle}", pb.LineageSubgraphQueryOptions.DOWNSTREAM, hops=1)
    assert {e.id for e in down1.executions} == {executions[2]} and {a.id for a in down1.artifacts} == {middle}
    both = _subgraph(f"id = {middle}", pb.LineageSubgraphQueryOptions.BIDIRECTIONAL, hops=2)
    assert {a.id for a in both.artifacts} == {artifacts[1], middle, artifacts[3]}
    options = pb.LineageSubgraphQueryOptions(direction=pb.LineageSubgraphQueryOptions.BIDIRECTIONAL, max_num_hops=2)
    options.starting_artifacts.filter_query = f"id = {middle}"
    masked = call(
        "GetLineageSubgraph", lineage_subgraph_query_options=options, read_mask={"paths": ["executions", "events"]}
    ).lineage_subgraph
    assert not masked.artifacts and len(masked.executions) == 2 and len(masked.events) == 4


@pytest.mark.parametrize(
    ("template", "starts"),
    [
        ("id = {a}", "a"),
        ("(id = {a})", "a"),
        ("id IN ({a}, {b}, 987654321)", "ab"),
        ("id IN ({a}, {a})", "a"),
        ("id = 987654321", ""),
        # Not plain id lists: compiled as filters.
        ("id = {a} OR id = {b}", "ab"),
        ("id >= {a} AND id <= {a}", "a"),
        ("NOT(id != {a})", "a"),
        ("id = {a} AND uri = 'nowhere'", ""),
    ],
)
def test_a_lineage_query_starts_from_the_nodes_its_filter_selects(template: str, starts: str) -> None:
    artifacts, _ = _chain(4)
    named = {"a": artifacts[2], "b": artifacts[4]}
    graph = _subgraph(template.format(**named), pb.LineageSubgraphQueryOptions.UPSTREAM, hops=0)
    assert {a.id for a in graph.artifacts} == {named[key] for key in starts}


def test_id_literals_only_takes_plain_id_lists() -> None:
    assert id_literals("id = 7") == (7,)
    assert id_literals(" ( id IN (3, 1, 3) ) ") == (3, 1, 3)
    for query in ["id = 7.0", "id != 7", "NOT id IN (7)", "id IN (7, 'x')", "type_id = 7", "id = 7 OR id = 8", "id ="]:
        assert id_literals(query) is None, query


def test_ending_artifacts_stop_the_walk() -> None:
    artifacts, _ = _chain(6)
    options = pb.LineageSubgraphQueryOptions(direction=pb.LineageSubgraphQueryOptions.UPSTREAM)
    options.starting_artifacts.filter_query = f"id = {artifacts[-1]}"
    options.ending_artifacts.filter_query = f"id = {artifacts[3]}"
    options.ending_artifacts.include_ending_nodes = True
    graph = call("GetLineageSubgraph", lineage_subgraph_query_options=options).lineage_subgraph
    assert {a.id for a in graph.artifacts} == set(artifacts[3:])
    options.ending_artifacts.include_ending_nodes = False
    graph = call("GetLineageSubgraph", lineage_subgraph_query_options=options).lineage_subgraph
    assert {a.id for a in graph.artifacts} == set(artifacts[4:])


def test_lineage_graph_honours_max_node_size_and_boundaries() -> None:
    artifacts, _ = _chain(10)
    options = pb.LineageGraphQueryOptions(max_node_size=4)
    options.artifacts_options.filter_query = f"id = {artifacts[0]}"
    graph = call("GetLineageGraph", options=options).subgraph
    assert len(graph.artifacts) + len(graph.executions) == 4
    options = pb.LineageGraphQueryOptions(max_node_size=0)
    options.artifacts_options.filter_query = f"id = {artifacts[0]}"
    options.stop_conditions.boundary_artifacts = f"id != {artifacts[3]}"
    graph = call("GetLineageGraph", options=options).subgraph
    assert {a.id for a in graph.artifacts} == set(artifacts[:3])


def test_cache_lookup_finds_finished_runs_with_the_same_inputs_and_properties() -> None:
    a_type, e_type = artifact_type(), execution_type()
    data, other = put_artifacts(pb.Artifact(type_id=a_type, uri="d"), pb.Artifact(type_id=a_type, uri="o"))

    def run(inputs: list[int], state: int, value: str) -> int:
        [execution_id] = put_executions(
            pb.Execution(type_id=e_type, last_known_state=state, properties={"state": pb.Value(string_value=value)})
        )
        [output] = put_artifacts(pb.Artifact(type_id=a_type, uri=f"out{execution_id}"))
        call(
            "PutEvents",
            events=[event(i, execution_id, pb.Event.INPUT) for i in inputs] + [event(output, execution_id, pb.Event.OUTPUT)],
        )
        return execution_id

    hit = run([data], pb.Execution.COMPLETE, "x")
    run([data], pb.Execution.FAILED, "x")  # not finished
    run([data, other], pb.Execution.COMPLETE, "x")  # more inputs
    run([data], pb.Execution.COMPLETE, "y")  # other properties
    found = cache.lookup(e_type, [data], {"state": pb.Value(string_value="x")})
    assert [h.execution.id for h in found] == [hit]
    assert [a.uri for a in found[0].outputs] == [f"out{hit}"]
    assert cache.lookup(e_type, [other], {"state": pb.Value(string_value="x")}) == []
