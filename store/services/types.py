"""Types: registering and evolving artifact, execution and context types, and reading them."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError

from store.choices import BASE_TYPE_CHOICES, PropertyType, TypeKind
from store.models import Type, TypeProperty
from store.services.errors import AlreadyExists, InvalidArgument, NotFound
from store.services.kinds import KIND_BY_TYPE_KIND

_KIND_LABEL = {TypeKind.ARTIFACT: "ArtifactType", TypeKind.EXECUTION: "ExecutionType", TypeKind.CONTEXT: "ContextType"}


def put_type(
    kind: TypeKind,
    message: Any,
    *,
    can_add_fields: bool = False,
    can_omit_fields: bool = False,
    can_delete_fields: bool = False,
) -> int:
    """Create a type, or check a re-put against the stored one and evolve it.

    MLMD's rules: a type is identified by (name, version).  Re-putting it
    returns its id when the properties match; new properties need
    ``can_add_fields``, stored ones missing from the request need
    ``can_omit_fields``; a property whose data type differs is refused.
    """
    label = _KIND_LABEL[kind]
    if not message.name:
        raise InvalidArgument(f"{label}: a type needs a name")
    if can_delete_fields:
        raise InvalidArgument(f"{label}: can_delete_fields is not supported (MLMD never deletes declared properties)")
    requested: dict[str, int] = {}
    for name, data_type in message.properties.items():
        if not name:
            raise InvalidArgument(f"{label} {message.name}: a property needs a name")
        if data_type == PropertyType.UNKNOWN:
            raise InvalidArgument(f"{label} {message.name}: property {name} has data type UNKNOWN")
        requested[name] = data_type
    base_type = message.base_type if message.HasField("base_type") else 0
    if base_type not in BASE_TYPE_CHOICES[kind].values:
        raise InvalidArgument(f"{label} {message.name}: unknown base_type {base_type}")
    version = message.version if message.HasField("version") else ""

    stored = Type.objects.filter(kind=kind, name=message.name, version=version).first()
    if stored is None:
        return _create_type(kind, message, version, base_type, requested, label)

    stored_properties = dict(stored.properties.values_list("name", "data_type"))
    for name, data_type in requested.items():
        if name in stored_properties and stored_properties[name] != data_type:
            raise AlreadyExists(
                f"{label} {message.name}: property {name} is stored as {PropertyType(stored_properties[name]).label},"
                f" the request declares {PropertyType(data_type).label}"
            )
    added = {name: dt for name, dt in requested.items() if name not in stored_properties}
    if added and not can_add_fields:
        raise AlreadyExists(
            f"{label} {message.name} already exists without properties {sorted(added)}; set can_add_fields to add them"
        )
    omitted = [name for name in stored_properties if name not in requested]
    if omitted and not can_omit_fields:
        raise AlreadyExists(
            f"{label} {message.name} already exists with properties {sorted(omitted)} that the request omits;"
            " set can_omit_fields to allow it"
        )
    if message.HasField("external_id") and message.external_id and stored.external_id != message.external_id:
        if stored.external_id:
            raise AlreadyExists(
                f"{label} {message.name} already exists with external_id {stored.external_id!r}"
            )
        stored.external_id = message.external_id
        _save_type(stored, label)
    if added:
        TypeProperty.objects.bulk_create(
            [TypeProperty(type=stored, name=name, data_type=dt) for name, dt in added.items()]
        )
    return stored.id


def _create_type(
    kind: TypeKind, message: Any, version: str, base_type: int, properties: dict[str, int], label: str
) -> int:
    row = Type(
        kind=kind,
        name=message.name,
        version=version,
        description=message.description if message.HasField("description") else None,
        external_id=message.external_id or None,
        base_type=base_type,
    )
    _save_type(row, label)
    TypeProperty.objects.bulk_create([TypeProperty(type=row, name=n, data_type=dt) for n, dt in properties.items()])
    return row.id


def _save_type(row: Type, label: str) -> None:
    from store.services.transactions import savepoint

    try:
        with savepoint():
            row.save()
    except IntegrityError as exc:
        if row.external_id and Type.objects.filter(kind=row.kind, external_id=row.external_id).exclude(pk=row.pk).exists():
            raise AlreadyExists(f"{label}: external_id {row.external_id!r} is already used by another type") from exc
        raise AlreadyExists(
            f"{label} {row.name} (version {row.version!r}) already exists"
        ) from exc


# ---------------------------------------------------------------------------- reads


def type_protos(types: Iterable[Type]) -> list[Any]:
    """Type rows as ArtifactType/ExecutionType/ContextType messages, properties in one query."""
    rows = list(types)
    properties: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if rows:
        for type_id, name, data_type in TypeProperty.objects.filter(type_id__in=[r.id for r in rows]).values_list(
            "type_id", "name", "data_type"
        ):
            properties[type_id].append((name, data_type))
    result = []
    for row in rows:
        message = KIND_BY_TYPE_KIND[TypeKind(row.kind)].type_proto()
        message.id = row.id
        message.name = row.name
        if row.version:
            message.version = row.version
        if row.description is not None:
            message.description = row.description
        if row.external_id:
            message.external_id = row.external_id
        if row.base_type:
            message.base_type = row.base_type
        for name, data_type in properties[row.id]:
            message.properties[name] = data_type
        result.append(message)
    return result


def get_type(kind: TypeKind, name: str, version: str = "") -> Any:
    row = Type.objects.filter(kind=kind, name=name, version=version or "").first()
    if row is None:
        suffix = f" and version {version!r}" if version else ""
        raise NotFound(f"No {_KIND_LABEL[kind]} found with name {name!r}{suffix}")
    return type_protos([row])[0]


def find_type(kind: TypeKind, name: str, version: str = "") -> Type | None:
    return Type.objects.filter(kind=kind, name=name, version=version or "").first()


def get_types(kind: TypeKind) -> list[Any]:
    return type_protos(Type.objects.filter(kind=kind).order_by("id"))


def get_types_by_id(kind: TypeKind, ids: Iterable[int]) -> list[Any]:
    return type_protos(Type.objects.filter(kind=kind, id__in=list(ids)).order_by("id"))


def get_types_by_external_ids(kind: TypeKind, external_ids: Iterable[str]) -> list[Any]:
    ids = [e for e in external_ids]
    if any(not e for e in ids):
        raise InvalidArgument("external_ids must not contain an empty string")
    return type_protos(Type.objects.filter(kind=kind, external_id__in=ids).order_by("id"))


def declared_properties(type_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{type id: {property name: data type}} for the given types, in one query."""
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for type_id, name, data_type in TypeProperty.objects.filter(type_id__in=set(type_ids)).values_list(
        "type_id", "name", "data_type"
    ):
        result[type_id][name] = data_type
    return result
