"""An update that leaves a node as stored writes nothing; any difference is written.

Pipelines pass their input artifacts back with every execution and name their
contexts again: put_nodes tells those requests apart from the stored message
(``Node.serialized``), without reading the property rows.  These tests hold
that shortcut to what an update means.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import struct_pb2

from store.models import Artifact, ArtifactProperty, Context, ContextProperty, Execution, ExecutionProperty
from store.proto import metadata_store_pb2 as pb
from store.services.errors import InvalidArgument
from tests.store.mlmd import artifact_type, call, context_type, execution_type, full_values, put_artifacts

pytestmark = pytest.mark.django_db

DECLARED = {"count": pb.INT, "score": pb.DOUBLE, "split": pb.STRING}


KINDS = {
    "artifact": (artifact_type, Artifact, ArtifactProperty, "artifact_id", "Artifacts"),
    "execution": (execution_type, Execution, ExecutionProperty, "execution_id", "Executions"),
    "context": (context_type, Context, ContextProperty, "context_id", "Contexts"),
}


def _new(kind: str) -> Any:
    make_type = KINDS[kind][0]
    type_id = make_type("T", **DECLARED)
    if kind == "artifact":
        return full_values(pb.Artifact(type_id=type_id, name="a", uri="s3://a", external_id="x-a", state=pb.Artifact.LIVE))
    if kind == "execution":
        return full_values(pb.Execution(type_id=type_id, name="e", external_id="x-e", last_known_state=pb.Execution.RUNNING))
    return full_values(pb.Context(type_id=type_id, name="c", external_id="x-c"))


def _put(kind: str, *nodes: Any) -> list[int]:
    plural = KINDS[kind][4]
    return list(getattr(call(f"Put{plural}", **{plural.lower(): list(nodes)}), f"{kind}_ids"))


def _get(kind: str, node_id: int) -> Any:
    plural = KINDS[kind][4]
    [node] = getattr(call(f"Get{plural}ByID", **{f"{kind}_ids": [node_id]}), plural.lower())
    return node


def _snapshot(kind: str, node_id: int) -> tuple[Any, ...]:
    _, model, property_model, fk, _ = KINDS[kind]
    row = model.objects.get(id=node_id)
    property_rows = sorted(property_model.objects.filter(**{fk: node_id}).values_list("id", "name"))
    return row.last_update_time_since_epoch, bytes(row.serialized), property_rows


@pytest.mark.parametrize("kind", KINDS)
def test_a_node_put_back_as_read_writes_nothing(kind: str) -> None:
    [node_id] = _put(kind, _new(kind))
    before = _snapshot(kind, node_id)
    read = _get(kind, node_id)  # with its type name and times, as clients send it back
    assert _put(kind, read) == [node_id]
    as_built = _new(kind)
    as_built.id = node_id
    assert _put(kind, as_built) == [node_id]
    assert _snapshot(kind, node_id) == before


def _set_uri(node: Any) -> None:
    node.uri = "s3://b"


def _drop_property(node: Any) -> None:
    del node.properties["split"]


def _int_to_double(node: Any) -> None:
    node.custom_properties["n"].int_value = 1
    node.custom_properties["n"].double_value = 1.0  # the same number, another kind of value


CHANGES: dict[str, tuple[Callable[[Any], None], Callable[[Any], bool]]] = {
    "name": (lambda n: setattr(n, "name", "renamed"), lambda n: n.name == "renamed"),
    "external_id": (lambda n: setattr(n, "external_id", "x-2"), lambda n: n.external_id == "x-2"),
    "external_id cleared": (lambda n: n.ClearField("external_id"), lambda n: not n.HasField("external_id")),
    "a property's value": (
        lambda n: setattr(n.properties["score"], "double_value", 0.5), lambda n: n.properties["score"].double_value == 0.5
    ),
    "a property dropped": (_drop_property, lambda n: "split" not in n.properties),
    "a custom property added": (
        lambda n: setattr(n.custom_properties["more"], "string_value", "m"), lambda n: "more" in n.custom_properties
    ),
    "a struct's inside": (
        lambda n: n.custom_properties["nested"].struct_value["b"].update({"c": 3}),
        lambda n: n.custom_properties["nested"].struct_value["b"]["c"] == 3,
    ),
    "int to double": (_int_to_double, lambda n: n.custom_properties["n"].WhichOneof("value") == "double_value"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("change", CHANGES)
def test_any_difference_is_written(kind: str, change: str) -> None:
    [node_id] = _put(kind, _new(kind))
    apply, holds = CHANGES[change]
    node = _get(kind, node_id)
    apply(node)
    _put(kind, node)
    after = _get(kind, node_id)
    assert holds(after)
    assert after == _rebuilt(kind, node_id)


def _rebuilt(kind: str, node_id: int) -> Any:
    KINDS[kind][1].objects.filter(id=node_id).update(serialized=None)
    return _get(kind, node_id)


@pytest.mark.parametrize(
    ("field", "value", "holds"),
    [
        ("uri", "s3://b", lambda a: a.uri == "s3://b"),
        ("state", pb.Artifact.DELETED, lambda a: a.state == pb.Artifact.DELETED),
    ],
)
def test_an_artifacts_own_fields_are_compared(field: str, value: Any, holds: Callable[[Any], bool]) -> None:
    [node_id] = _put("artifact", _new("artifact"))
    node = _get("artifact", node_id)
    setattr(node, field, value)
    _put("artifact", node)
    assert holds(_get("artifact", node_id))


def test_an_executions_state_is_compared() -> None:
    [node_id] = _put("execution", _new("execution"))
    node = _get("execution", node_id)
    node.last_known_state = pb.Execution.COMPLETE
    _put("execution", node)
    assert _get("execution", node_id).last_known_state == pb.Execution.COMPLETE


def test_system_metadata_given_again_is_compared_the_long_way() -> None:
    artifact = _new("artifact")
    artifact.system_metadata.Pack(struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value="v")}))
    [node_id] = put_artifacts(artifact)
    before = _snapshot("artifact", node_id)
    put_artifacts(_get("artifact", node_id))
    assert _snapshot("artifact", node_id) == before
    changed = _get("artifact", node_id)
    changed.system_metadata.Pack(struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value="w")}))
    put_artifacts(changed)
    assert _get("artifact", node_id).system_metadata == changed.system_metadata


def test_a_node_given_twice_is_updated_in_order() -> None:
    # The second copy equals what is stored; the first one's change must still be written.
    [node_id] = put_artifacts(_new("artifact"))
    as_stored = _get("artifact", node_id)
    changed = _get("artifact", node_id)
    changed.properties["count"].int_value = 9
    put_artifacts(changed, as_stored)
    assert _get("artifact", node_id).properties["count"].int_value == 9


def test_an_unchanged_node_under_another_type_id_is_still_refused() -> None:
    [node_id] = put_artifacts(_new("artifact"))
    other = artifact_type("Other", **DECLARED)
    node = _get("artifact", node_id)
    node.type_id = other
    with pytest.raises(InvalidArgument, match=f"type_id {other} differs from the stored type_id"):
        put_artifacts(node)


def test_an_unchanged_node_is_still_checked_against_its_type() -> None:
    [node_id] = put_artifacts(_new("artifact"))
    node = _get("artifact", node_id)
    node.properties["undeclared"].string_value = "x"
    with pytest.raises(InvalidArgument, match="undeclared"):
        put_artifacts(node)
    del node.properties["undeclared"]
    node.properties["count"].ClearField("int_value")
    node.properties["count"].string_value = "3"  # declared INT
    with pytest.raises(InvalidArgument, match="count"):
        put_artifacts(node)


def test_inputs_passed_back_with_put_execution_stay_as_stored() -> None:
    data = artifact_type("Data", **DECLARED)
    trainer = execution_type("Trainer")
    run = context_type("Run")
    [dataset_id] = put_artifacts(full_values(pb.Artifact(type_id=data, uri="s3://d")))
    before = _snapshot("artifact", dataset_id)
    context = pb.Context(type_id=run, name="run-1")
    for step in range(2):
        response = call(
            "PutExecution",
            execution=pb.Execution(type_id=trainer, name=f"step-{step}"),
            artifact_event_pairs=[{"artifact": _get("artifact", dataset_id), "event": {"type": pb.Event.INPUT}}],
            contexts=[context],
        )
        context.id = response.context_ids[0]
        assert list(response.artifact_ids) == [dataset_id]
    assert _snapshot("artifact", dataset_id) == before
    assert Context.objects.get(id=context.id).last_update_time_since_epoch == (
        Context.objects.get(id=context.id).create_time_since_epoch
    )


def test_an_unchanged_node_costs_one_query_and_no_property_rows() -> None:
    # The point of the shortcut: the stored message answers, the property rows are not read, nothing is written.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    [node_id] = put_artifacts(_new("artifact"))
    node = _get("artifact", node_id)
    with CaptureQueriesContext(connection) as captured:
        put_artifacts(node)
    statements = [q["sql"] for q in captured.captured_queries]
    on_nodes = [s for s in statements if "store_artifact" in s]
    assert len(on_nodes) == 1, statements
    assert on_nodes[0].startswith("SELECT") and "store_artifactproperty" not in on_nodes[0], statements
    assert not [s for s in statements if s.split()[0] in ("INSERT", "UPDATE", "DELETE")], statements
