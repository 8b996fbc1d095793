"""The stored message of a node (``Node.serialized``) always says what its rows say.

Reads answer from the stored message when there is one, so every way of
writing a node must either store the message the rows would build or drop it.
Each test writes nodes one way, then compares what the reads answer with what
they answer once the stored messages are dropped (the messages rebuilt from the
rows, the path imported and ORM-written nodes take).
"""
from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2

from store.models import Artifact, ArtifactProperty, Context, ContextProperty, Execution
from store.proto import metadata_store_pb2 as pb
from tests.store.mlmd import artifact_type, call, context_type, execution_type, put_artifacts, put_contexts

pytestmark = pytest.mark.django_db


def _read_back(method: str, field: str, ids: list[int]) -> list[Any]:
    return list(getattr(call(method, **{f"{field[:-1]}_ids": ids}), field))


def _rebuilt(model: Any, method: str, field: str, ids: list[int]) -> list[Any]:
    model.objects.filter(id__in=ids).update(serialized=None)
    return _read_back(method, field, ids)


def _every_kind_of_value(node: Any) -> None:
    node.properties["count"].int_value = -(2**62)
    node.properties["score"].double_value = 0.1
    node.properties["split"].string_value = "tráin ✓"
    node.custom_properties["flag"].bool_value = False
    node.custom_properties["nested"].struct_value.update({"a": [1, "two", None, {"b": True}], "c": 2.5})
    node.custom_properties["blob"].proto_value.type_url = "type.googleapis.com/google.protobuf.Struct"
    node.custom_properties["blob"].proto_value.value = struct_pb2.Struct(fields={"x": struct_pb2.Value(number_value=1)}).SerializeToString()


DECLARED = {"count": pb.INT, "score": pb.DOUBLE, "split": pb.STRING}


def test_inserted_and_updated_artifacts_read_the_same_as_rebuilt_from_rows() -> None:
    type_id = artifact_type("Data", **DECLARED)
    full = pb.Artifact(type_id=type_id, name="full", uri="s3://x", external_id="ext-1", state=pb.Artifact.LIVE)
    _every_kind_of_value(full)
    full.system_metadata.Pack(struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value="v")}))
    bare = pb.Artifact(type_id=type_id)
    ids = put_artifacts(full, bare)

    stored = _read_back("GetArtifactsByID", "artifacts", ids)
    assert Artifact.objects.filter(id__in=ids, serialized__isnull=False).count() == 2
    assert stored == _rebuilt(Artifact, "GetArtifactsByID", "artifacts", ids)
    assert stored[0].type == "Data" and stored[0].custom_properties["nested"].struct_value["c"] == 2.5

    # Updates: a masked one, a whole one, and one that changes nothing.
    # Put back unchanged: nothing is written, so the dropped messages stay dropped.
    put_artifacts(*_read_back("GetArtifactsByID", "artifacts", ids))
    assert not Artifact.objects.filter(id__in=ids, serialized__isnull=False).exists()
    changed = pb.Artifact(id=ids[0], uri="s3://y")
    changed.properties["count"].int_value = 7
    call("PutArtifacts", artifacts=[changed], update_mask={"paths": ["uri", "properties.count"]})
    whole = pb.Artifact(id=ids[1], type_id=type_id, state=pb.Artifact.DELETED)
    whole.custom_properties["note"].string_value = "gone"
    put_artifacts(whole)

    after = _read_back("GetArtifactsByID", "artifacts", ids)
    assert Artifact.objects.filter(id__in=ids, serialized__isnull=False).count() == 2
    assert after == _rebuilt(Artifact, "GetArtifactsByID", "artifacts", ids)
    assert after[0].uri == "s3://y" and after[0].properties["count"].int_value == 7
    assert after[0].properties["split"].string_value == "tráin ✓"  # kept by the mask
    assert after[1].state == pb.Artifact.DELETED and dict(after[1].custom_properties).keys() == {"note"}


def _scalars_only(node: Any) -> Any:
    node.properties["count"].int_value = -(2**62)
    node.properties["score"].double_value = 0.5
    node.properties["split"].string_value = ""
    node.custom_properties["flag"].bool_value = False
    node.custom_properties["tráin ✓"].double_value = 1e300
    return node


# Field 99, a varint: what a newer client's field looks like to this store.
_UNKNOWN_FIELD = b"\x98\x06\x01"

# New nodes whose values are all scalars get their stored message as a copy of the request's
# (nodes.insert_new); these are the fields where the request and the rows could tell apart.
SCALAR_NODES = {
    "artifact": lambda t: [
        pb.Artifact(type_id=t, name="", external_id="", uri="", state=pb.Artifact.UNKNOWN),
        pb.Artifact(type_id=t, type="Not the type's name", create_time_since_epoch=5, last_update_time_since_epoch=6),
        pb.Artifact.FromString(pb.Artifact(type_id=t, name="newer client").SerializeToString() + _UNKNOWN_FIELD),
        pb.Artifact(type_id=t, system_metadata={}),
        pb.Artifact(type_id=t, system_metadata={"type_url": "x/y", "value": b"\x01"}),
    ],
    "execution": lambda t: [
        pb.Execution(type_id=t, name="", external_id="", last_known_state=pb.Execution.UNKNOWN),
        pb.Execution(type_id=t, type="Not the type's name", create_time_since_epoch=5),
        pb.Execution.FromString(pb.Execution(type_id=t, name="newer client").SerializeToString() + _UNKNOWN_FIELD),
        pb.Execution(type_id=t, system_metadata={}),
    ],
    "context": lambda t: [
        pb.Context(type_id=t, name="c", external_id=""),
        pb.Context(type_id=t, name="d", type="Not the type's name", create_time_since_epoch=5),
        pb.Context.FromString(pb.Context(type_id=t, name="newer client").SerializeToString() + _UNKNOWN_FIELD),
        pb.Context(type_id=t, name="e", system_metadata={"type_url": "x/y", "value": b"\x01"}),
    ],
}
SCALAR_KINDS = {
    "artifact": (artifact_type, Artifact, "PutArtifacts", "GetArtifactsByID", "artifacts"),
    "execution": (execution_type, Execution, "PutExecutions", "GetExecutionsByID", "executions"),
    "context": (context_type, Context, "PutContexts", "GetContextsByID", "contexts"),
}


@pytest.mark.parametrize("kind", SCALAR_KINDS)
def test_new_nodes_of_scalar_values_read_the_same_as_rebuilt(kind: str) -> None:
    make_type, model, put, get, field = SCALAR_KINDS[kind]
    type_id = make_type("T", **DECLARED)
    nodes = [_scalars_only(node) for node in SCALAR_NODES[kind](type_id)]
    ids = list(getattr(call(put, **{field: nodes}), f"{kind}_ids"))
    stored = _read_back(get, field, ids)
    assert model.objects.filter(id__in=ids, serialized__isnull=False).count() == len(ids)
    assert not [blob for blob in model.objects.filter(id__in=ids).values_list("serialized", flat=True) if _UNKNOWN_FIELD in bytes(blob)]
    assert stored == _rebuilt(model, get, field, ids)
    assert {node.type for node in stored} == {"T"}
    assert all(node.create_time_since_epoch > 1000 for node in stored)


def test_executions_and_contexts_from_put_execution_read_the_same_as_rebuilt() -> None:
    data = artifact_type("Data")
    trainer = execution_type("Trainer", **DECLARED)
    run = context_type("Run", owner=pb.STRING)
    execution = pb.Execution(type_id=trainer, name="train", last_known_state=pb.Execution.COMPLETE)
    _every_kind_of_value(execution)
    context = pb.Context(type_id=run, name="run-1")
    context.properties["owner"].string_value = "me"
    output = pb.Artifact(type_id=data, uri="s3://model")
    response = call(
        "PutExecution",
        execution=execution,
        artifact_event_pairs=[{"artifact": output, "event": {"type": pb.Event.OUTPUT}}],
        contexts=[context],
    )
    executions = _read_back("GetExecutionsByID", "executions", [response.execution_id])
    contexts = _read_back("GetContextsByID", "contexts", list(response.context_ids))
    assert executions == _rebuilt(Execution, "GetExecutionsByID", "executions", [response.execution_id])
    assert contexts == _rebuilt(Context, "GetContextsByID", "contexts", list(response.context_ids))
    assert executions[0].last_known_state == pb.Execution.COMPLETE and contexts[0].properties["owner"].string_value == "me"


def test_lists_answer_from_stored_and_rebuilt_nodes_alike() -> None:
    type_id = artifact_type("Data", **DECLARED)
    nodes = []
    for i in range(6):
        node = pb.Artifact(type_id=type_id, name=f"a{i}", uri=f"s3://{i}")
        _every_kind_of_value(node)
        nodes.append(node)
    ids = put_artifacts(*nodes)
    Artifact.objects.filter(id__in=ids[::2]).update(serialized=None)  # half of them as if imported
    listed = list(call("GetArtifactsByType", type_name="Data").artifacts)
    assert [a.id for a in listed] == ids
    assert listed == _rebuilt(Artifact, "GetArtifactsByID", "artifacts", ids)


def test_a_save_through_the_orm_drops_the_stored_message() -> None:
    type_id = artifact_type("Data", **DECLARED)
    node = pb.Artifact(type_id=type_id, uri="s3://before")
    [artifact_id] = put_artifacts(node)
    row = Artifact.objects.get(id=artifact_id)
    row.uri = "s3://after"
    row.save(update_fields=["uri"])
    assert Artifact.objects.get(id=artifact_id).serialized is None
    assert _read_back("GetArtifactsByID", "artifacts", [artifact_id])[0].uri == "s3://after"


def test_a_property_changed_through_the_orm_drops_the_node_message() -> None:
    run = context_type("Run", owner=pb.STRING)
    context = pb.Context(type_id=run, name="r")
    context.properties["owner"].string_value = "me"
    [context_id] = put_contexts(context)

    value = ContextProperty.objects.get(context_id=context_id, name="owner")
    value.string_value = "you"
    value.save()
    assert Context.objects.get(id=context_id).serialized is None
    assert _read_back("GetContextsByID", "contexts", [context_id])[0].properties["owner"].string_value == "you"

    put_contexts(pb.Context(id=context_id, type_id=run, name="r", properties={"owner": pb.Value(string_value="us")}))
    assert Context.objects.get(id=context_id).serialized is not None
    ContextProperty.objects.get(context_id=context_id, name="owner").delete()
    assert Context.objects.get(id=context_id).serialized is None
    assert "owner" not in _read_back("GetContextsByID", "contexts", [context_id])[0].properties


def test_an_orm_created_property_drops_the_node_message() -> None:
    type_id = artifact_type("Data", **DECLARED)
    [artifact_id] = put_artifacts(pb.Artifact(type_id=type_id))
    ArtifactProperty.objects.create(artifact_id=artifact_id, name="split", string_value="eval")
    assert _read_back("GetArtifactsByID", "artifacts", [artifact_id])[0].properties["split"].string_value == "eval"
