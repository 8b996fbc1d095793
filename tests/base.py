"""Named users with known rights, and small builders of store rows for tests.

Users (all with the password ``PASSWORD``):

- ``admin``: superuser, may do anything.
- ``staff``: staff with every permission of the store app (view, add, change,
  delete on types, nodes and edges) and nothing else.
- ``reader``: an ordinary account, no staff status, no permissions.

The builders write through the ORM: they make the few rows a test needs
before the services exist for them; tests of behaviour should prefer services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Permission, User

from store.choices import PropertyType, TypeKind
from store.models import (
    Artifact,
    ArtifactProperty,
    Context,
    ContextProperty,
    Execution,
    ExecutionProperty,
    Type,
    TypeProperty,
)

PASSWORD = "correct horse battery staple 42"
ADMIN = "admin"
STAFF = "staff"
READER = "reader"


@dataclass(frozen=True)
class NamedUsers:
    admin: User
    staff: User
    reader: User


def create_named_users() -> NamedUsers:
    admin = User.objects.create_superuser(ADMIN, "admin@example.com", PASSWORD)
    staff = User.objects.create_user(STAFF, "staff@example.com", PASSWORD, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="store"))
    reader = User.objects.create_user(READER, "reader@example.com", PASSWORD)
    return NamedUsers(admin=admin, staff=staff, reader=reader)


def make_type(
    kind: int,
    name: str,
    *,
    version: str = "",
    properties: dict[str, int] | None = None,
    **fields: Any,
) -> Type:
    row = Type.objects.create(kind=kind, name=name, version=version, **fields)
    for prop_name, data_type in (properties or {}).items():
        TypeProperty.objects.create(type=row, name=prop_name, data_type=data_type)
    return row


def artifact_type(name: str = "Dataset", **kwargs: Any) -> Type:
    return make_type(TypeKind.ARTIFACT, name, **kwargs)


def execution_type(name: str = "Trainer", **kwargs: Any) -> Type:
    return make_type(TypeKind.EXECUTION, name, **kwargs)


def context_type(name: str = "Experiment", **kwargs: Any) -> Type:
    return make_type(TypeKind.CONTEXT, name, **kwargs)


def _property_rows(model: type, fk: str, node: Any, properties: dict[str, Any], custom: bool) -> None:
    for name, value in properties.items():
        model.objects.create(**{fk: node}, name=name, is_custom=custom, **_value_column(value))


def _value_column(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"bool_value": value}
    if isinstance(value, int):
        return {"int_value": value}
    if isinstance(value, float):
        return {"double_value": value}
    if isinstance(value, dict):
        return {"struct_value": value}
    return {"string_value": str(value)}


def make_artifact(
    type_row: Type,
    name: str | None = None,
    *,
    properties: dict[str, Any] | None = None,
    custom_properties: dict[str, Any] | None = None,
    **fields: Any,
) -> Artifact:
    artifact = Artifact.objects.create(type=type_row, name=name, **fields)
    _property_rows(ArtifactProperty, "artifact", artifact, properties or {}, False)
    _property_rows(ArtifactProperty, "artifact", artifact, custom_properties or {}, True)
    return artifact


def make_execution(
    type_row: Type,
    name: str | None = None,
    *,
    properties: dict[str, Any] | None = None,
    custom_properties: dict[str, Any] | None = None,
    **fields: Any,
) -> Execution:
    execution = Execution.objects.create(type=type_row, name=name, **fields)
    _property_rows(ExecutionProperty, "execution", execution, properties or {}, False)
    _property_rows(ExecutionProperty, "execution", execution, custom_properties or {}, True)
    return execution


def make_context(
    type_row: Type,
    name: str,
    *,
    properties: dict[str, Any] | None = None,
    custom_properties: dict[str, Any] | None = None,
    **fields: Any,
) -> Context:
    context = Context.objects.create(type=type_row, name=name, **fields)
    _property_rows(ContextProperty, "context", context, properties or {}, False)
    _property_rows(ContextProperty, "context", context, custom_properties or {}, True)
    return context


__all__ = [
    "ADMIN",
    "PASSWORD",
    "READER",
    "STAFF",
    "NamedUsers",
    "PropertyType",
    "TypeKind",
    "artifact_type",
    "context_type",
    "create_named_users",
    "execution_type",
    "make_artifact",
    "make_context",
    "make_execution",
    "make_type",
]
