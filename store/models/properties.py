"""Property values of artifacts, executions and contexts.

One row per (node, name, declared-or-custom).  Exactly one value column is set,
matching the data type; struct values are JSON, proto values an ``Any``'s
type URL and bytes.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from store.models.nodes import Artifact, Context, Execution

VALUE_FIELDS = ("int_value", "double_value", "string_value", "bool_value", "struct_value", "proto_value")


class PropertyValue(models.Model):
    name = models.CharField(max_length=255)
    is_custom = models.BooleanField(default=False)
    int_value = models.BigIntegerField(blank=True, null=True)
    double_value = models.FloatField(blank=True, null=True)
    string_value = models.TextField(blank=True, null=True)
    bool_value = models.BooleanField(blank=True, null=True)
    struct_value = models.JSONField(blank=True, null=True)
    proto_type_url = models.CharField(max_length=1024, blank=True, null=True)
    proto_value = models.BinaryField(blank=True, null=True)

    # The foreign key to the node this value belongs to, named by each subclass.
    node_field: str = ""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        prefix = "custom " if self.is_custom else ""
        return f"{prefix}{self.name} = {self.value!r}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        self._forget_node_message()

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        result = super().delete(*args, **kwargs)
        self._forget_node_message()
        return result

    def _forget_node_message(self) -> None:
        # A value changed through the ORM (the admin's inlines): the node's stored
        # message no longer says what the node holds (see Node.serialized).
        node_model = type(self)._meta.get_field(self.node_field).related_model
        node_model.objects.filter(pk=getattr(self, f"{self.node_field}_id")).update(serialized=None)

    @property
    def value(self) -> object:
        for field in VALUE_FIELDS:
            current = getattr(self, field)
            if current is not None:
                return current
        return None

    def set_values(self) -> list[str]:
        return [field for field in VALUE_FIELDS if getattr(self, field) is not None]

    def clean(self) -> None:
        if not self.name or not self.name.strip():
            raise ValidationError({"name": "A property needs a non-empty name."})
        if len(self.set_values()) > 1:
            raise ValidationError("A property value holds exactly one of int, double, string, bool, struct or proto.")


def _property_indexes(prefix: str, node: str) -> list[models.Index]:
    # A filter on a property value selects the node ids of rows with a given name
    # and value: with is_custom and the node's id in the index, it reads the index
    # alone (the string value's index is made per vendor, migrations 0002, 0007, 0008).
    # A row sets one value column, so each index holds only the rows whose column
    # is set (partial on SQLite; MySQL has no partial indexes and ignores the
    # condition): a new property writes one value index instead of four.
    return [
        models.Index(
            fields=["name", field, "is_custom", node],
            name=f"{prefix}_{short}_cover",
            condition=models.Q(**{f"{field}__isnull": False}),
        )
        for field, short in (("int_value", "int"), ("double_value", "double"), ("bool_value", "bool"))
    ]


class ArtifactProperty(PropertyValue):
    """A declared or custom property value of an artifact."""

    # No index of its own: the unique (artifact, name, is_custom) index leads with it.
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="property_values", db_index=False)
    node_field = "artifact"

    class Meta:
        verbose_name_plural = "artifact properties"
        constraints = [
            models.UniqueConstraint(fields=["artifact", "name", "is_custom"], name="artifactproperty_unique")
        ]
        indexes = _property_indexes("artprop", "artifact")


class ExecutionProperty(PropertyValue):
    """A declared or custom property value of an execution."""

    # No index of its own: the unique (execution, name, is_custom) index leads with it.
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="property_values", db_index=False)
    node_field = "execution"

    class Meta:
        verbose_name_plural = "execution properties"
        constraints = [
            models.UniqueConstraint(fields=["execution", "name", "is_custom"], name="executionproperty_unique")
        ]
        indexes = _property_indexes("exeprop", "execution")


class ContextProperty(PropertyValue):
    """A declared or custom property value of a context."""

    # No index of its own: the unique (context, name, is_custom) index leads with it.
    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="property_values", db_index=False)
    node_field = "context"

    class Meta:
        verbose_name_plural = "context properties"
        constraints = [
            models.UniqueConstraint(fields=["context", "name", "is_custom"], name="contextproperty_unique")
        ]
        indexes = _property_indexes("ctxprop", "context")
