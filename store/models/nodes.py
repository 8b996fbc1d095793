"""Artifacts, executions and contexts: the instances of types."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from store.choices import ArtifactState, ExecutionState, TypeKind
from store.models.types import Type


class Node(models.Model):
    """Fields every MLMD node has.  Times are milliseconds since the epoch, as on the wire."""

    type_kind: int = -1

    type = models.ForeignKey(Type, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=255, blank=True, null=True)
    external_id = models.CharField(max_length=255, blank=True, null=True, unique=True)
    create_time_since_epoch = models.BigIntegerField(default=0, db_index=True)
    last_update_time_since_epoch = models.BigIntegerField(default=0, db_index=True)
    # The node as the MLMD message reads answer with, serialized without its id:
    # written by the store's services with every insert and update, so that a
    # read is one indexed fetch instead of rebuilding the message from the
    # property rows.  NULL (a node saved through the ORM, imported, or written
    # before this column existed) means "rebuild it": it is never trusted blindly.
    serialized = models.BinaryField(blank=True, null=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A save through the ORM (the admin) may change what the message holds.
        self.serialized = None
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "serialized"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.type_id is not None and self.type.kind != self.type_kind:
            raise ValidationError({"type": f"{self.type} is not a {TypeKind(self.type_kind).label.lower()}."})
        if self.external_id == "":
            self.external_id = None


class Artifact(Node):
    """A dataset, model, metrics file or any other thing a step reads or writes."""

    type_kind = TypeKind.ARTIFACT

    uri = models.TextField(blank=True, null=True)
    state = models.PositiveSmallIntegerField(choices=ArtifactState.choices, blank=True, null=True)
    system_metadata = models.BinaryField(blank=True, null=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["type", "name"], name="artifact_unique_type_name")]
        # The index on uri is created by migration 0002 per database vendor (MySQL
        # needs a prefix length on a TEXT column).

    def __str__(self) -> str:
        return self.name or self.uri or f"artifact {self.pk}"


class Execution(Node):
    """One run of a pipeline step (a component execution)."""

    type_kind = TypeKind.EXECUTION

    last_known_state = models.PositiveSmallIntegerField(choices=ExecutionState.choices, blank=True, null=True)
    system_metadata = models.BinaryField(blank=True, null=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["type", "name"], name="execution_unique_type_name")]

    def __str__(self) -> str:
        return self.name or f"execution {self.pk}"


class Context(Node):
    """A group of artifacts and executions: an experiment, a pipeline run, a project."""

    type_kind = TypeKind.CONTEXT

    name = models.CharField(max_length=255)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["type", "name"], name="context_unique_type_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if not self.name or not self.name.strip():
            raise ValidationError({"name": "A context needs a non-empty name."})
