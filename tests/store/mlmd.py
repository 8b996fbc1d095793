"""Helpers for tests that drive the core through MLMD requests."""
from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from store import models
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api

COUNTED = (
    models.Type,
    models.TypeProperty,
    models.Artifact,
    models.Execution,
    models.Context,
    models.ArtifactProperty,
    models.ExecutionProperty,
    models.ContextProperty,
    models.Event,
    models.Attribution,
    models.Association,
    models.ParentContext,
)


def row_counts() -> dict[str, int]:
    """Rows per table: a failed request must leave every one of them as it was."""
    return {model.__name__: model.objects.count() for model in COUNTED}


def call(method: str, **fields: Any) -> Any:
    request = getattr(svc, f"{method}Request")(**fields)
    return api.call(method, request)


def artifact_type(name: str = "DataSet", **properties: int) -> int:
    props = properties or {"day": pb.INT, "split": pb.STRING}
    return call("PutArtifactType", artifact_type=pb.ArtifactType(name=name, properties=props)).type_id


def execution_type(name: str = "Trainer", **properties: int) -> int:
    props = properties or {"state": pb.STRING}
    return call("PutExecutionType", execution_type=pb.ExecutionType(name=name, properties=props)).type_id


def context_type(name: str = "Experiment", **properties: int) -> int:
    props = properties or {"note": pb.STRING}
    return call("PutContextType", context_type=pb.ContextType(name=name, properties=props)).type_id


def put_artifacts(*artifacts: pb.Artifact) -> list[int]:
    return list(call("PutArtifacts", artifacts=list(artifacts)).artifact_ids)


def put_executions(*executions: pb.Execution) -> list[int]:
    return list(call("PutExecutions", executions=list(executions)).execution_ids)


def put_contexts(*contexts: pb.Context) -> list[int]:
    return list(call("PutContexts", contexts=list(contexts)).context_ids)


def event(artifact_id: int, execution_id: int, kind: int) -> pb.Event:
    return pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=kind)


def full_values(node: Any) -> Any:
    """Give a node the properties count, score and split, and a custom property of every other kind of value."""
    node.properties["count"].int_value = 3
    node.properties["score"].double_value = 0.25
    node.properties["split"].string_value = "train"
    node.custom_properties["flag"].bool_value = True
    node.custom_properties["nested"].struct_value.update({"a": [1, "two", None], "b": {"c": 2.5}})
    node.custom_properties["blob"].proto_value.type_url = "type.googleapis.com/google.protobuf.Struct"
    node.custom_properties["blob"].proto_value.value = struct_pb2.Struct(
        fields={"x": struct_pb2.Value(number_value=1)}
    ).SerializeToString()
    return node
