"""Checks that keep the store consistent, shared by every writer.

Each check is a pure question to the database: it reads, never writes, and
answers ``None`` (or ``False``) when the change is fine, or a message naming the
problem when it would break the store.  The admin shows the message as a form
error; the services raise it as an ``InvalidArgument``/``FailedPrecondition``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import models

from store.choices import PropertyType, TypeKind
from store.models import (
    Artifact,
    ArtifactProperty,
    Context,
    ContextProperty,
    Execution,
    ExecutionProperty,
    ParentContext,
    ParentType,
    PropertyValue,
    Type,
    TypeProperty,
)

# For each kind of type: the node model, its property-value model and the
# property-value model's foreign key to the node.
NODE_MODELS: dict[int, type[models.Model]] = {
    TypeKind.ARTIFACT: Artifact,
    TypeKind.EXECUTION: Execution,
    TypeKind.CONTEXT: Context,
}
PROPERTY_MODELS: dict[int, tuple[type[PropertyValue], str]] = {
    TypeKind.ARTIFACT: (ArtifactProperty, "artifact"),
    TypeKind.EXECUTION: (ExecutionProperty, "execution"),
    TypeKind.CONTEXT: (ContextProperty, "context"),
}

# The value column a declared property of each data type is stored in.
VALUE_FIELD_FOR_TYPE: dict[int, str] = {
    PropertyType.INT: "int_value",
    PropertyType.DOUBLE: "double_value",
    PropertyType.STRING: "string_value",
    PropertyType.BOOLEAN: "bool_value",
    PropertyType.STRUCT: "struct_value",
    PropertyType.PROTO: "proto_value",
}

# Big enough to keep the number of queries low, small enough for every
# database's limit on bound parameters.
_BATCH = 500


def _node_noun(kind: int, count: int = 1) -> str:
    noun = TypeKind(kind).label.lower().removesuffix(" type")
    return noun if count == 1 else f"{noun}s"


def _type_label(type_row: Type) -> str:
    return f"{TypeKind(type_row.kind).label.lower()} '{type_row}'"


# ---------------------------------------------------------------------------
# Parent links (contexts and types): no cycles
# ---------------------------------------------------------------------------


def _reaches(
    link_model: type[models.Model],
    child_field: str,
    start_id: int,
    target_id: int,
    ignore_link_id: int | None,
) -> bool:
    """Whether ``target_id`` is ``start_id`` or one of its ancestors through ``link_model`` rows.

    Walks upwards one generation per query, so a deep hierarchy costs one query
    per level, never one per node; rows already seen stop the walk, so an
    existing cycle cannot make it loop.
    """
    if start_id == target_id:
        return True
    seen = {start_id}
    frontier = [start_id]
    links = link_model._default_manager.all()
    if ignore_link_id is not None:
        links = links.exclude(pk=ignore_link_id)
    while frontier:
        parents: set[int] = set()
        for i in range(0, len(frontier), _BATCH):
            chunk = frontier[i : i + _BATCH]
            parents.update(links.filter(**{f"{child_field}_id__in": chunk}).values_list("parent_id", flat=True))
        if target_id in parents:
            return True
        frontier = [p for p in parents if p not in seen]
        seen.update(frontier)
    return False


def would_create_context_cycle(child_id: int, parent_id: int, *, ignore_link_id: int | None = None) -> bool:
    """Whether making ``parent_id`` a parent of ``child_id`` makes a context its own ancestor.

    True when the two are the same context, or when ``child_id`` is already an
    ancestor of ``parent_id`` through existing ``ParentContext`` rows.
    ``ignore_link_id`` leaves out a link that the change replaces.
    """
    return _reaches(ParentContext, "context", parent_id, child_id, ignore_link_id)


def would_create_type_cycle(child_id: int, parent_id: int, *, ignore_link_id: int | None = None) -> bool:
    """Whether making ``parent_id`` a parent type of ``child_id`` makes a type its own ancestor."""
    return _reaches(ParentType, "type", parent_id, child_id, ignore_link_id)


def parent_context_problem(
    child: Context | None, parent: Context | None, *, ignore_link_id: int | None = None
) -> str | None:
    """Why ``parent`` cannot become a parent context of ``child`` (None when it can)."""
    if child is None or parent is None or child.pk is None or parent.pk is None:
        return None
    if child.pk == parent.pk:
        return f"Context '{child}' cannot be its own parent."
    if would_create_context_cycle(child.pk, parent.pk, ignore_link_id=ignore_link_id):
        return (
            f"Making '{parent}' a parent of '{child}' would create a cycle: "
            f"'{child}' is already an ancestor of '{parent}'."
        )
    return None


def parent_type_problem(child: Type | None, parent: Type | None, *, ignore_link_id: int | None = None) -> str | None:
    """Why ``parent`` cannot become a parent type of ``child`` (None when it can)."""
    if child is None or parent is None or parent.pk is None:
        return None
    if child.kind is not None and child.kind != parent.kind:
        return f"A parent type must be of the same kind: '{parent}' is an {TypeKind(parent.kind).label.lower()}."
    if child.pk is None:
        return None
    if child.pk == parent.pk:
        return f"Type '{child}' cannot be its own parent."
    if would_create_type_cycle(child.pk, parent.pk, ignore_link_id=ignore_link_id):
        return (
            f"Making '{parent}' a parent type of '{child}' would create a cycle: "
            f"'{child}' is already an ancestor of '{parent}'."
        )
    return None


# ---------------------------------------------------------------------------
# Types and their declared properties
# ---------------------------------------------------------------------------


def instance_count(type_row: Type) -> int:
    """How many artifacts, executions or contexts are of ``type_row``."""
    return NODE_MODELS[type_row.kind]._default_manager.filter(type_id=type_row.pk).count()


def type_deletion_blocked(type_row: Type) -> str | None:
    """Why ``type_row`` cannot be deleted: it still has instances (None when it can)."""
    if type_row.pk is None:
        return None
    count = instance_count(type_row)
    if count:
        return (
            f"The {_type_label(type_row)} still has {count} {_node_noun(type_row.kind, count)}; "
            f"a type can only be deleted once no {_node_noun(type_row.kind, 2)} use it."
        )
    return None


def declared_value_count(type_property: TypeProperty) -> int:
    """How many instances of the property's type hold a value of that declared property."""
    type_row = type_property.type
    model, fk = PROPERTY_MODELS[type_row.kind]
    return model._default_manager.filter(
        **{f"{fk}__type_id": type_row.pk}, name=type_property.name, is_custom=False
    ).count()


def _stored(type_property: TypeProperty) -> TypeProperty | None:
    if type_property.pk is None:
        return None
    return TypeProperty.objects.select_related("type").filter(pk=type_property.pk).first()


def property_type_change_blocked(type_property: TypeProperty, new_data_type: int) -> str | None:
    """Why the declared property cannot change to ``new_data_type`` (None when it can).

    The stored declaration is the reference, so the check holds even when the
    caller has already assigned the new data type to ``type_property``.  A data
    type may change only while no instance holds a value of the property: the
    values would no longer match their declaration.
    """
    stored = _stored(type_property)
    if stored is None or stored.data_type == new_data_type:
        return None
    count = declared_value_count(stored)
    if count:
        return (
            f"Cannot change the data type of property '{stored.name}' of the {_type_label(stored.type)} "
            f"from {PropertyType(stored.data_type).label} to {PropertyType(new_data_type).label}: "
            f"{count} {_node_noun(stored.type.kind, count)} hold a value of it."
        )
    return None


def property_removal_blocked(type_property: TypeProperty) -> str | None:
    """Why the declared property cannot be removed or renamed (None when it can).

    Values of an undeclared property would break every read of those instances.
    """
    stored = _stored(type_property)
    if stored is None:
        return None
    count = declared_value_count(stored)
    if count:
        return (
            f"Cannot remove or rename property '{stored.name}' of the {_type_label(stored.type)}: "
            f"{count} {_node_noun(stored.type.kind, count)} hold a value of it."
        )
    return None


def declaration_shadows_custom(type_row: Type, name: str) -> str | None:
    """Why ``type_row`` cannot declare a property ``name``: instances hold a custom one of that name.

    The mirror image of ``custom_property_shadows_declared``: either way a
    declared and a custom property of one name would meet on one node.
    """
    if type_row.pk is None:
        return None
    model, fk = PROPERTY_MODELS[type_row.kind]
    count = model._default_manager.filter(**{f"{fk}__type_id": type_row.pk}, name=name, is_custom=True).count()
    if count:
        return (
            f"Cannot declare property '{name}' on the {_type_label(type_row)}: "
            f"{count} {_node_noun(type_row.kind, count)} hold a custom property of that name."
        )
    return None


# ---------------------------------------------------------------------------
# Property values of artifacts, executions and contexts
# ---------------------------------------------------------------------------


def declared_properties(type_id: int) -> dict[str, int]:
    """The properties ``type_id`` declares: name → data type."""
    return dict(TypeProperty.objects.filter(type_id=type_id).values_list("name", "data_type"))


def custom_property_shadows_declared(
    type_id: int, name: str, *, declared: Mapping[str, int] | None = None
) -> str | None:
    """Why a custom property called ``name`` is refused on an instance of ``type_id``.

    MLMD keeps a declared and a custom property of the same name apart, but a
    reader seeing both cannot tell which one is meant; we refuse the custom one.
    """
    if declared is None:
        declared = declared_properties(type_id)
    if name in declared:
        return (
            f"Custom property '{name}' shadows the property of the same name declared by the type; "
            "set the declared property instead or choose another name."
        )
    return None


def set_value_fields(values: Mapping[str, Any]) -> list[str]:
    """Which value columns of a property row are set (``proto_type_url`` counts as proto)."""
    fields = [field for field in VALUE_FIELD_FOR_TYPE.values() if values.get(field) is not None]
    if values.get("proto_type_url") is not None and "proto_value" not in fields:
        fields.append("proto_value")
    return fields


def property_value_problem(
    type_id: int,
    name: str,
    is_custom: bool,
    values: Mapping[str, Any],
    *,
    declared: Mapping[str, int] | None = None,
) -> str | None:
    """Why a property row (``values``: its value columns) is refused on an instance of ``type_id``.

    A row holds exactly one value; a declared property must be declared by the
    type and hold the column of its data type; a custom property must not
    shadow a declared one; a struct is a JSON object.
    """
    if declared is None:
        declared = declared_properties(type_id)
    fields = set_value_fields(values)
    if not fields:
        return f"Property '{name}' has no value."
    if len(fields) > 1:
        return f"Property '{name}' holds {len(fields)} values ({', '.join(fields)}); a property holds exactly one."
    field = fields[0]
    if field == "struct_value" and not isinstance(values.get("struct_value"), dict):
        return f"Property '{name}': a struct value is a JSON object ({{\"key\": value, ...}})."
    if is_custom:
        return custom_property_shadows_declared(type_id, name, declared=declared)
    if name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        return (
            f"Property '{name}' is not declared by the type (declared: {known}); "
            "add it to the type first or make it a custom property."
        )
    expected = VALUE_FIELD_FOR_TYPE[declared[name]]
    if field != expected:
        return (
            f"Property '{name}' is declared {PropertyType(declared[name]).label}, "
            f"so its value goes in {expected}, not {field}."
        )
    return None
