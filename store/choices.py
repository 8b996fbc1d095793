"""MLMD's enumerations, with the same numbers as on the wire."""
from __future__ import annotations

from django.db import models


class TypeKind(models.IntegerChoices):
    EXECUTION = 0, "Execution type"
    ARTIFACT = 1, "Artifact type"
    CONTEXT = 2, "Context type"


class PropertyType(models.IntegerChoices):
    UNKNOWN = 0, "UNKNOWN"
    INT = 1, "INT"
    DOUBLE = 2, "DOUBLE"
    STRING = 3, "STRING"
    STRUCT = 4, "STRUCT"
    PROTO = 5, "PROTO"
    BOOLEAN = 6, "BOOLEAN"


class ArtifactBaseType(models.IntegerChoices):
    UNSET = 0, "UNSET"
    DATASET = 1, "DATASET"
    MODEL = 2, "MODEL"
    METRICS = 3, "METRICS"
    STATISTICS = 4, "STATISTICS"


class ExecutionBaseType(models.IntegerChoices):
    UNSET = 0, "UNSET"
    TRAIN = 1, "TRAIN"
    TRANSFORM = 2, "TRANSFORM"
    PROCESS = 3, "PROCESS"
    EVALUATE = 4, "EVALUATE"
    DEPLOY = 5, "DEPLOY"


class ContextBaseType(models.IntegerChoices):
    UNSET = 0, "UNSET"


BASE_TYPE_CHOICES = {
    TypeKind.ARTIFACT: ArtifactBaseType,
    TypeKind.EXECUTION: ExecutionBaseType,
    TypeKind.CONTEXT: ContextBaseType,
}


class ArtifactState(models.IntegerChoices):
    UNKNOWN = 0, "UNKNOWN"
    PENDING = 1, "PENDING"
    LIVE = 2, "LIVE"
    MARKED_FOR_DELETION = 3, "MARKED_FOR_DELETION"
    DELETED = 4, "DELETED"
    ABANDONED = 5, "ABANDONED"
    REFERENCE = 6, "REFERENCE"


class ExecutionState(models.IntegerChoices):
    UNKNOWN = 0, "UNKNOWN"
    NEW = 1, "NEW"
    RUNNING = 2, "RUNNING"
    COMPLETE = 3, "COMPLETE"
    FAILED = 4, "FAILED"
    CACHED = 5, "CACHED"
    CANCELED = 6, "CANCELED"


class EventType(models.IntegerChoices):
    UNKNOWN = 0, "UNKNOWN"
    DECLARED_OUTPUT = 1, "DECLARED_OUTPUT"
    DECLARED_INPUT = 2, "DECLARED_INPUT"
    INPUT = 3, "INPUT"
    OUTPUT = 4, "OUTPUT"
    INTERNAL_INPUT = 5, "INTERNAL_INPUT"
    INTERNAL_OUTPUT = 6, "INTERNAL_OUTPUT"
    PENDING_OUTPUT = 7, "PENDING_OUTPUT"


INPUT_EVENT_TYPES = frozenset({EventType.DECLARED_INPUT, EventType.INPUT, EventType.INTERNAL_INPUT})
OUTPUT_EVENT_TYPES = frozenset(
    {EventType.DECLARED_OUTPUT, EventType.OUTPUT, EventType.INTERNAL_OUTPUT, EventType.PENDING_OUTPUT}
)
