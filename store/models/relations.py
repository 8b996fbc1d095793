"""Edges of the metadata graph: events, attributions, associations, parent contexts."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from store.choices import EventType
from store.models.nodes import Artifact, Context, Execution


class Event(models.Model):
    """An execution read (input) or wrote (output) an artifact.

    ``path`` is MLMD's Event.Path: a list of steps, each ``{"index": n}`` or ``{"key": s}``.
    """

    # Indexed by the unique (artifact, execution, type) and by (execution, type),
    # which lead with them: no index of their own.
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="events", db_index=False)
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="events", db_index=False)
    type = models.PositiveSmallIntegerField(choices=EventType.choices)
    milliseconds_since_epoch = models.BigIntegerField(default=0)
    path = models.JSONField(blank=True, null=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "execution", "type"], name="event_unique_artifact_execution_type")
        ]
        indexes = [models.Index(fields=["execution", "type"], name="event_execution_type")]

    def __str__(self) -> str:
        return f"{EventType(self.type).label}: execution {self.execution_id} – artifact {self.artifact_id}"

    def clean(self) -> None:
        for step in self.path or []:
            if not isinstance(step, dict) or set(step) not in ({"index"}, {"key"}):
                raise ValidationError({"path": "Each path step is {\"index\": n} or {\"key\": \"s\"}."})


class Attribution(models.Model):
    """An artifact belongs to a context."""

    # Indexed by the unique (context, artifact), which leads with it.
    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="attributions", db_index=False)
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="attributions")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["context", "artifact"], name="attribution_unique_pair")]

    def __str__(self) -> str:
        return f"artifact {self.artifact_id} in context {self.context_id}"


class Association(models.Model):
    """An execution belongs to a context."""

    # Indexed by the unique (context, execution), which leads with it.
    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="associations", db_index=False)
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="associations")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["context", "execution"], name="association_unique_pair")]

    def __str__(self) -> str:
        return f"execution {self.execution_id} in context {self.context_id}"


class ParentContext(models.Model):
    """``context`` is a child of ``parent`` (for example a run inside an experiment)."""

    # Indexed by the unique (context, parent), which leads with it.
    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="parent_links", db_index=False)
    parent = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="child_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["context", "parent"], name="parentcontext_unique_pair")]

    def __str__(self) -> str:
        return f"context {self.context_id} ⟶ parent {self.parent_id}"

    def clean(self) -> None:
        if self.context_id is not None and self.context_id == self.parent_id:
            raise ValidationError("A context cannot be its own parent.")
