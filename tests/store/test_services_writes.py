"""The core's write rules: types, nodes, events, contexts, put_execution, put_lineage_subgraph.

Every refused request must name the problem, carry MLMD's status and leave the
store exactly as it was (row counts of every table unchanged).
"""
from __future__ import annotations

import pytest

from store.models import Artifact, Context, Event, Execution
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from tests.store.mlmd import (
    artifact_type,
    call,
    context_type,
    event,
    execution_type,
    put_artifacts,
    put_contexts,
    put_executions,
    row_counts,
)

pytestmark = pytest.mark.django_db


def refused(error: type[Exception], match: str, method: str, **fields: object) -> None:
    before = row_counts()
    with pytest.raises(error, match=match):
        call(method, **fields)
    assert row_counts() == before


# ---------------------------------------------------------------------------- types


def test_reputting_an_identical_type_returns_its_id() -> None:
    first = artifact_type("DataSet")
    assert artifact_type("DataSet") == first


def test_type_evolution_needs_can_add_fields_and_can_omit_fields() -> None:
    type_id = artifact_type("DataSet", day=pb.INT)
    grown = pb.ArtifactType(name="DataSet", properties={"day": pb.INT, "split": pb.STRING})
    refused(AlreadyExists, "can_add_fields", "PutArtifactType", artifact_type=grown)
    assert call("PutArtifactType", artifact_type=grown, can_add_fields=True).type_id == type_id
    shrunk = pb.ArtifactType(name="DataSet", properties={"day": pb.INT})
    refused(AlreadyExists, "can_omit_fields", "PutArtifactType", artifact_type=shrunk)
    assert call("PutArtifactType", artifact_type=shrunk, can_omit_fields=True).type_id == type_id
    stored = call("GetArtifactType", type_name="DataSet").artifact_type
    assert dict(stored.properties) == {"day": pb.INT, "split": pb.STRING}


def test_a_property_data_type_cannot_change() -> None:
    artifact_type("DataSet", day=pb.INT)
    changed = pb.ArtifactType(name="DataSet", properties={"day": pb.STRING})
    refused(AlreadyExists, "day is stored as INT", "PutArtifactType", artifact_type=changed, can_add_fields=True)


def test_type_versions_are_distinct_types() -> None:
    v1 = call("PutArtifactType", artifact_type=pb.ArtifactType(name="Model", version="v1")).type_id
    v2 = call("PutArtifactType", artifact_type=pb.ArtifactType(name="Model", version="v2")).type_id
    plain = artifact_type("Model")
    assert len({v1, v2, plain}) == 3
    assert call("GetArtifactType", type_name="Model", type_version="v2").artifact_type.id == v2


def test_type_external_ids_are_unique_per_kind() -> None:
    call("PutArtifactType", artifact_type=pb.ArtifactType(name="A", external_id="ext"))
    refused(AlreadyExists, "external_id", "PutArtifactType", artifact_type=pb.ArtifactType(name="B", external_id="ext"))
    # Another kind may use the same external id.
    call("PutExecutionType", execution_type=pb.ExecutionType(name="B", external_id="ext"))


@pytest.mark.parametrize(
    "message, match",
    [
        (pb.ArtifactType(), "needs a name"),
        (pb.ArtifactType(name="X", properties={"p": pb.UNKNOWN}), "UNKNOWN"),
    ],
)
def test_bad_types_are_invalid(message: pb.ArtifactType, match: str) -> None:
    refused(InvalidArgument, match, "PutArtifactType", artifact_type=message)


def test_missing_type_is_not_found() -> None:
    with pytest.raises(NotFound, match="Nope"):
        call("GetArtifactType", type_name="Nope")


# ---------------------------------------------------------------------------- nodes


def test_insert_then_replace_then_masked_update() -> None:
    type_id = artifact_type()
    artifact = pb.Artifact(type_id=type_id, uri="gs://a", properties={"day": pb.Value(int_value=1)})
    artifact.custom_properties["owner"].string_value = "ana"
    [artifact_id] = put_artifacts(artifact)
    stored = call("GetArtifactsByID", artifact_ids=[artifact_id]).artifacts[0]
    assert stored.uri == "gs://a" and stored.type == "DataSet"
    assert stored.create_time_since_epoch > 0

    replacement = pb.Artifact(id=artifact_id, uri="gs://b", properties={"split": pb.Value(string_value="train")})
    put_artifacts(replacement)
    stored = call("GetArtifactsByID", artifact_ids=[artifact_id]).artifacts[0]
    assert stored.uri == "gs://b"
    assert dict(stored.properties) == {"split": pb.Value(string_value="train")}
    assert not stored.custom_properties  # replaced wholesale, as MLMD does without a mask

    masked = pb.Artifact(id=artifact_id, uri="ignored", properties={"day": pb.Value(int_value=7)})
    call("PutArtifacts", artifacts=[masked], update_mask={"paths": ["properties.day", "bogus.path", ""]})
    stored = call("GetArtifactsByID", artifact_ids=[artifact_id]).artifacts[0]
    assert stored.uri == "gs://b"
    assert stored.properties["day"].int_value == 7
    assert stored.properties["split"].string_value == "train"


def test_unchanged_update_keeps_last_update_time() -> None:
    type_id = artifact_type()
    [artifact_id] = put_artifacts(pb.Artifact(type_id=type_id, uri="u"))
    before = call("GetArtifactsByID", artifact_ids=[artifact_id]).artifacts[0]
    put_artifacts(pb.Artifact(id=artifact_id, type_id=type_id, uri="u"))
    after = call("GetArtifactsByID", artifact_ids=[artifact_id]).artifacts[0]
    assert after.last_update_time_since_epoch == before.last_update_time_since_epoch


def test_abort_if_latest_updated_time_changed() -> None:
    type_id = artifact_type()
    [artifact_id] = put_artifacts(pb.Artifact(type_id=type_id, uri="u"))
    stale = pb.Artifact(id=artifact_id, type_id=type_id, uri="v", last_update_time_since_epoch=1)
    refused(
        FailedPrecondition,
        "was updated",
        "PutArtifacts",
        artifacts=[stale],
        options=svc.PutArtifactsRequest.Options(abort_if_latest_updated_time_changed=True),
    )


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda t: pb.Artifact(type_id=t + 1000), NotFound, "no artifact type with id"),
        (lambda t: pb.Artifact(), InvalidArgument, "needs a type_id"),
        (lambda t: pb.Artifact(type_id=t, properties={"day": pb.Value(string_value="x")}), InvalidArgument, "unmatched property type: day"),
        (lambda t: pb.Artifact(type_id=t, properties={"nope": pb.Value(int_value=1)}), InvalidArgument, "unknown property: nope"),
        (lambda t: pb.Artifact(type_id=t, properties={"day": pb.Value()}), InvalidArgument, "unmatched property type: day"),
        (lambda t: pb.Artifact(id=424242, type_id=t), InvalidArgument, "no artifact with id 424242"),
    ],
)
def test_bad_artifacts_are_refused_and_nothing_is_written(build, error, match) -> None:  # type: ignore[no-untyped-def]
    type_id = artifact_type()
    good = pb.Artifact(type_id=type_id, uri="fine")
    refused(error, match, "PutArtifacts", artifacts=[good, build(type_id)])


def test_names_are_unique_within_a_type_and_the_batch_is_all_or_nothing() -> None:
    type_id = artifact_type()
    put_artifacts(pb.Artifact(type_id=type_id, name="day1"))
    refused(
        AlreadyExists,
        "name already exists",
        "PutArtifacts",
        artifacts=[pb.Artifact(type_id=type_id, name="day2"), pb.Artifact(type_id=type_id, name="day1")],
    )
    other = artifact_type("Other")
    put_artifacts(pb.Artifact(type_id=other, name="day1"))  # same name, other type: fine


def test_external_ids_are_unique() -> None:
    type_id = artifact_type()
    put_artifacts(pb.Artifact(type_id=type_id, external_id="e1"))
    refused(AlreadyExists, "external_id", "PutArtifacts", artifacts=[pb.Artifact(type_id=type_id, external_id="e1")])


def test_contexts_need_a_name_unique_in_their_type() -> None:
    type_id = context_type()
    refused(InvalidArgument, "non-empty name", "PutContexts", contexts=[pb.Context(type_id=type_id)])
    put_contexts(pb.Context(type_id=type_id, name="exp"))
    refused(AlreadyExists, "name already exists", "PutContexts", contexts=[pb.Context(type_id=type_id, name="exp")])


def test_node_of_the_wrong_kind_of_type_is_refused() -> None:
    execution_type_id = execution_type()
    refused(NotFound, "no artifact type", "PutArtifacts", artifacts=[pb.Artifact(type_id=execution_type_id)])


# ---------------------------------------------------------------------------- events and links


def _one_of_each() -> tuple[int, int, int]:
    [artifact_id] = put_artifacts(pb.Artifact(type_id=artifact_type(), uri="a"))
    [execution_id] = put_executions(pb.Execution(type_id=execution_type()))
    [context_id] = put_contexts(pb.Context(type_id=context_type(), name="c"))
    return artifact_id, execution_id, context_id


def test_events_need_both_ends_and_a_type_and_are_unique() -> None:
    artifact_id, execution_id, _ = _one_of_each()
    refused(InvalidArgument, "no artifact_id", "PutEvents", events=[pb.Event(execution_id=execution_id, type=pb.Event.INPUT)])
    refused(InvalidArgument, "no artifact with id", "PutEvents", events=[event(artifact_id + 99, execution_id, pb.Event.INPUT)])
    refused(InvalidArgument, "no event type", "PutEvents", events=[pb.Event(artifact_id=artifact_id, execution_id=execution_id)])
    path_event = event(artifact_id, execution_id, pb.Event.INPUT)
    path_event.path.steps.add().key = "examples"
    path_event.path.steps.add().index = 2
    call("PutEvents", events=[path_event])
    refused(AlreadyExists, "already exists", "PutEvents", events=[event(artifact_id, execution_id, pb.Event.INPUT)])
    [stored] = call("GetEventsByArtifactIDs", artifact_ids=[artifact_id]).events
    assert [s.WhichOneof("value") for s in stored.path.steps] == ["key", "index"]
    assert stored.milliseconds_since_epoch > 0


def test_attributions_are_idempotent_and_checked() -> None:
    artifact_id, execution_id, context_id = _one_of_each()
    attribution = pb.Attribution(artifact_id=artifact_id, context_id=context_id)
    call("PutAttributionsAndAssociations", attributions=[attribution, attribution])
    call("PutAttributionsAndAssociations", attributions=[attribution])
    assert len(call("GetArtifactsByContext", context_id=context_id).artifacts) == 1
    refused(
        InvalidArgument,
        "no execution with id",
        "PutAttributionsAndAssociations",
        associations=[pb.Association(execution_id=execution_id + 5, context_id=context_id)],
    )


def test_parent_contexts_refuse_cycles_duplicates_and_missing_contexts() -> None:
    type_id = context_type()
    a, b, c = put_contexts(*(pb.Context(type_id=type_id, name=n) for n in "abc"))
    call("PutParentContexts", parent_contexts=[pb.ParentContext(child_id=b, parent_id=a), pb.ParentContext(child_id=c, parent_id=b)])
    refused(InvalidArgument, "its own ancestor", "PutParentContexts", parent_contexts=[pb.ParentContext(child_id=a, parent_id=c)])
    refused(InvalidArgument, "its own parent", "PutParentContexts", parent_contexts=[pb.ParentContext(child_id=a, parent_id=a)])
    refused(AlreadyExists, "already a parent", "PutParentContexts", parent_contexts=[pb.ParentContext(child_id=b, parent_id=a)])
    refused(InvalidArgument, "no context with id", "PutParentContexts", parent_contexts=[pb.ParentContext(child_id=a, parent_id=c + 10)])
    assert [x.id for x in call("GetParentContextsByContext", context_id=c).contexts] == [b]
    assert [x.id for x in call("GetChildrenContextsByContext", context_id=a).contexts] == [b]
    response = call("GetParentContextsByContexts", context_ids=[b, c])
    assert {k: [x.id for x in v.parent_contexts] for k, v in response.contexts.items()} == {b: [a], c: [b]}


# ---------------------------------------------------------------------------- put_execution


def _run_request(type_ids: tuple[int, int, int], input_id: int, context_name: str = "exp-1") -> svc.PutExecutionRequest:
    artifact_type_id, execution_type_id, context_type_id = type_ids
    request = svc.PutExecutionRequest(
        execution=pb.Execution(type_id=execution_type_id, last_known_state=pb.Execution.COMPLETE),
        contexts=[pb.Context(type_id=context_type_id, name=context_name)],
    )
    pair = request.artifact_event_pairs.add()
    pair.event.artifact_id = input_id
    pair.event.type = pb.Event.INPUT
    pair = request.artifact_event_pairs.add()
    pair.artifact.CopyFrom(pb.Artifact(type_id=artifact_type_id, uri="s3://model"))
    pair.event.type = pb.Event.OUTPUT
    return request


def test_put_execution_records_the_whole_run() -> None:
    type_ids = (artifact_type(), execution_type(), context_type())
    [input_id] = put_artifacts(pb.Artifact(type_id=type_ids[0], uri="s3://data"))
    request = _run_request(type_ids, input_id)
    response = call("PutExecution", **{f.name: v for f, v in request.ListFields()})
    assert len(response.artifact_ids) == 1 and len(response.context_ids) == 1
    context_id = response.context_ids[0]
    assert {a.id for a in call("GetArtifactsByContext", context_id=context_id).artifacts} == {input_id, response.artifact_ids[0]}
    assert [e.id for e in call("GetExecutionsByContext", context_id=context_id).executions] == [response.execution_id]
    events = call("GetEventsByExecutionIDs", execution_ids=[response.execution_id]).events
    assert sorted((e.artifact_id, e.type) for e in events) == sorted(
        [(input_id, pb.Event.INPUT), (response.artifact_ids[0], pb.Event.OUTPUT)]
    )


def test_put_execution_context_reuse() -> None:
    type_ids = (artifact_type(), execution_type(), context_type())
    [input_id] = put_artifacts(pb.Artifact(type_id=type_ids[0], uri="s3://data"))
    first = call("PutExecution", **{f.name: v for f, v in _run_request(type_ids, input_id).ListFields()})
    again = _run_request(type_ids, input_id)
    with pytest.raises(AlreadyExists):
        call("PutExecution", **{f.name: v for f, v in again.ListFields()})
    again.options.reuse_context_if_already_exist = True
    second = call("PutExecution", **{f.name: v for f, v in again.ListFields()})
    assert list(second.context_ids) == list(first.context_ids)
    assert Context.objects.count() == 1


def test_put_execution_reuses_artifacts_by_external_id() -> None:
    type_ids = (artifact_type(), execution_type(), context_type())
    [input_id] = put_artifacts(pb.Artifact(type_id=type_ids[0], uri="s3://data", external_id="ext-1"))
    request = svc.PutExecutionRequest(execution=pb.Execution(type_id=type_ids[1]))
    pair = request.artifact_event_pairs.add()
    pair.artifact.CopyFrom(pb.Artifact(type_id=type_ids[0], uri="s3://data", external_id="ext-1"))
    pair.event.type = pb.Event.INPUT
    request.options.reuse_artifact_if_already_exist_by_external_id = True
    response = call("PutExecution", **{f.name: v for f, v in request.ListFields()})
    assert list(response.artifact_ids) == [input_id]
    assert Artifact.objects.count() == 1


@pytest.mark.parametrize("fault", ["bad property", "missing input", "unknown execution", "event mismatch", "empty context"])
def test_put_execution_is_atomic(fault: str) -> None:
    type_ids = (artifact_type(), execution_type(), context_type())
    [input_id] = put_artifacts(pb.Artifact(type_id=type_ids[0], uri="s3://data"))
    request = _run_request(type_ids, input_id)
    if fault == "bad property":
        request.artifact_event_pairs[1].artifact.properties["day"].string_value = "monday"
    elif fault == "missing input":
        request.artifact_event_pairs[0].event.artifact_id = input_id + 1000
    elif fault == "unknown execution":
        request.execution.id = 999
    elif fault == "event mismatch":
        request.artifact_event_pairs[1].event.artifact_id = input_id
    elif fault == "empty context":
        request.contexts[0].name = ""
    before = row_counts()
    with pytest.raises(InvalidArgument):
        call("PutExecution", **{f.name: v for f, v in request.ListFields()})
    assert row_counts() == before


def test_put_lineage_subgraph_links_by_index_and_is_atomic() -> None:
    artifact_type_id, execution_type_id, context_type_id = artifact_type(), execution_type(), context_type()
    request = svc.PutLineageSubgraphRequest(
        executions=[pb.Execution(type_id=execution_type_id, name="train")],
        artifacts=[pb.Artifact(type_id=artifact_type_id, uri="in"), pb.Artifact(type_id=artifact_type_id, uri="out")],
        contexts=[pb.Context(type_id=context_type_id, name="ctx")],
    )
    request.event_edges.add(execution_index=0, artifact_index=0, event=pb.Event(type=pb.Event.INPUT))
    request.event_edges.add(execution_index=0, artifact_index=1, event=pb.Event(type=pb.Event.OUTPUT))
    broken = svc.PutLineageSubgraphRequest()
    broken.CopyFrom(request)
    broken.event_edges.add(execution_index=0, artifact_index=5, event=pb.Event(type=pb.Event.OUTPUT))
    refused(InvalidArgument, "artifact_index", "PutLineageSubgraph", **{f.name: v for f, v in broken.ListFields()})
    response = call("PutLineageSubgraph", **{f.name: v for f, v in request.ListFields()})
    assert len(response.artifact_ids) == 2
    assert Event.objects.count() == 2
    assert Execution.objects.get().associations.count() == 1


def test_a_scalar_for_a_declared_struct_is_refused_not_wrapped() -> None:
    from store.services import values

    declared = {"config": pb.STRUCT}
    assert values.value_from_python({"lr": 0.1}, pb.STRUCT).WhichOneof("value") == "struct_value"
    scalar = values.value_from_python("0.1", pb.STRUCT)
    assert scalar.WhichOneof("value") == "string_value"
    with pytest.raises(InvalidArgument, match="unmatched property type: config"):
        values.check_properties("Artifact #0", declared, {"config": scalar}, {})
