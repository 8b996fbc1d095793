"""Helpers for tests that drive the core through MLMD requests."""
from __future__ import annotations

from typing import Any

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
