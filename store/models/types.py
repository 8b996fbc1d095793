"""Types: the schemas that artifacts, executions and contexts are instances of."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from store.choices import BASE_TYPE_CHOICES, PropertyType, TypeKind


class TypeQuerySet(models.QuerySet["Type"]):
    def of_kind(self, kind: int) -> TypeQuerySet:
        return self.filter(kind=kind)


class Type(models.Model):
    """An artifact, execution or context type (MLMD keeps all three in one table).

    ``version`` is the empty string when unset, so that (kind, name, version) is
    unique in the database itself: MySQL lets any number of NULLs through a
    unique index.
    """

    kind = models.PositiveSmallIntegerField(choices=TypeKind.choices)
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, null=True)
    external_id = models.CharField(max_length=255, blank=True, null=True)
    base_type = models.PositiveSmallIntegerField(default=0)

    objects = TypeQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name", "version"], name="type_unique_kind_name_version"),
            models.UniqueConstraint(fields=["kind", "external_id"], name="type_unique_kind_external_id"),
        ]

    def __str__(self) -> str:
        suffix = f" (v{self.version})" if self.version else ""
        return f"{self.name}{suffix}"

    def clean(self) -> None:
        if not self.name or not self.name.strip():
            raise ValidationError({"name": "A type needs a non-empty name."})
        valid = BASE_TYPE_CHOICES[TypeKind(self.kind)]
        if self.base_type not in valid.values:
            raise ValidationError(
                {"base_type": f"{self.base_type} is not a base type of a {TypeKind(self.kind).label.lower()}."}
            )
        if self.external_id == "":
            self.external_id = None


class _KindManager(models.Manager["Type"]):
    def __init__(self, kind: int) -> None:
        super().__init__()
        self.kind = kind

    def get_queryset(self) -> models.QuerySet[Type]:
        return super().get_queryset().filter(kind=self.kind)


class ArtifactType(Type):
    """The artifact types alone (a view of ``Type`` for the admin)."""

    objects = _KindManager(TypeKind.ARTIFACT)  # type: ignore[assignment]

    class Meta:
        proxy = True
        verbose_name = "artifact type"

    def save(self, *args: object, **kwargs: object) -> None:
        self.kind = TypeKind.ARTIFACT
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class ExecutionType(Type):
    """The execution types alone."""

    objects = _KindManager(TypeKind.EXECUTION)  # type: ignore[assignment]

    class Meta:
        proxy = True
        verbose_name = "execution type"

    def save(self, *args: object, **kwargs: object) -> None:
        self.kind = TypeKind.EXECUTION
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class ContextType(Type):
    """The context types alone."""

    objects = _KindManager(TypeKind.CONTEXT)  # type: ignore[assignment]

    class Meta:
        proxy = True
        verbose_name = "context type"

    def save(self, *args: object, **kwargs: object) -> None:
        self.kind = TypeKind.CONTEXT
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class TypeProperty(models.Model):
    """A property a type declares, with the data type its values must have."""

    type = models.ForeignKey(Type, on_delete=models.CASCADE, related_name="properties")
    name = models.CharField(max_length=255)
    data_type = models.PositiveSmallIntegerField(choices=PropertyType.choices)

    class Meta:
        ordering = ["type_id", "name"]
        verbose_name_plural = "type properties"
        constraints = [models.UniqueConstraint(fields=["type", "name"], name="typeproperty_unique_type_name")]

    def __str__(self) -> str:
        return f"{self.name}: {PropertyType(self.data_type).label}"

    def clean(self) -> None:
        if not self.name or not self.name.strip():
            raise ValidationError({"name": "A property needs a non-empty name."})
        if self.data_type == PropertyType.UNKNOWN:
            raise ValidationError({"data_type": "A declared property needs a data type other than UNKNOWN."})


class ParentType(models.Model):
    """A type's parent type (MLMD's type inheritance)."""

    type = models.ForeignKey(Type, on_delete=models.CASCADE, related_name="parent_links")
    parent = models.ForeignKey(Type, on_delete=models.CASCADE, related_name="child_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["type", "parent"], name="parenttype_unique_pair")]

    def __str__(self) -> str:
        return f"{self.type} ⟶ {self.parent}"

    def clean(self) -> None:
        if self.type_id is not None and self.type_id == self.parent_id:
            raise ValidationError("A type cannot be its own parent.")
        if self.type_id and self.parent_id and self.type.kind != self.parent.kind:
            raise ValidationError("A parent type must be of the same kind as its child.")
