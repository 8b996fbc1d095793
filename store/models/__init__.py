"""MLMD's data model as Django models."""
from __future__ import annotations

from store.models.graphs import GraphDrawing, GraphJob, GraphJobStatus
from store.models.idempotency import IdempotencyKey
from store.models.imports import MlmdImport, MlmdImportId
from store.models.nodes import Artifact, Context, Execution, Node
from store.models.properties import (
    VALUE_FIELDS,
    ArtifactProperty,
    ContextProperty,
    ExecutionProperty,
    PropertyValue,
)
from store.models.relations import Association, Attribution, Event, ParentContext
from store.models.types import ArtifactType, ContextType, ExecutionType, ParentType, Type, TypeProperty

__all__ = [
    "VALUE_FIELDS",
    "Artifact",
    "ArtifactProperty",
    "ArtifactType",
    "Association",
    "Attribution",
    "Context",
    "ContextProperty",
    "ContextType",
    "Event",
    "Execution",
    "ExecutionProperty",
    "ExecutionType",
    "GraphDrawing",
    "GraphJob",
    "GraphJobStatus",
    "IdempotencyKey",
    "MlmdImport",
    "MlmdImportId",
    "Node",
    "ParentContext",
    "ParentType",
    "PropertyValue",
    "Type",
    "TypeProperty",
]
