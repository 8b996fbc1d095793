"""Types: registering and evolving artifact, execution and context types, and reading them."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError

from store.choices import BASE_TYPE_CHOICES, PropertyType, TypeKind
from store.models import Type, TypeProperty
from store.services import sql
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

    found = _type_rows("kind = %s AND name = %s AND version = %s", [int(kind), message.name, version])
    if not found:
        return _create_type(kind, message, version, base_type, requested, label)
    stored = _TypeRow(*found[0])
    stored_properties = _declared(stored.id)
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
        row = Type.objects.get(id=stored.id)
        row.external_id = message.external_id
        _save_type(row, label)
    if added:
        TypeProperty.objects.bulk_create(
            [TypeProperty(type_id=stored.id, name=name, data_type=dt) for name, dt in added.items()]
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


_TYPE_COLUMNS = ("id", "kind", "name", "version", "description", "external_id", "base_type")


@dataclass(frozen=True)
class _TypeRow:
    id: int
    kind: int
    name: str
    version: str
    description: str | None
    external_id: str | None
    base_type: int


def _type_rows(where: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return sql.fetchall(
        f"SELECT {sql.columns(_TYPE_COLUMNS)} FROM {sql.table(Type)} WHERE {where} ORDER BY id", params
    )


def _declared(type_id: int) -> dict[str, int]:
    return dict(
        sql.fetchall(f"SELECT name, data_type FROM {sql.table(TypeProperty)} WHERE type_id = %s ORDER BY name", [type_id])
    )


def type_protos(types: Iterable[Any]) -> list[Any]:
    """Type rows (model instances or rows of ``_TYPE_COLUMNS``) as ArtifactType/ExecutionType/ContextType messages.

    The properties of all of them in one query.
    """
    rows = [row if isinstance(row, tuple) else tuple(getattr(row, c) for c in _TYPE_COLUMNS) for row in types]
    properties: dict[int, list[tuple[str, int]]] = defaultdict(list)
    ids = sorted({row[0] for row in rows})
    for chunk in sql.chunks(ids):
        for type_id, name, data_type in sql.fetchall(
            f"SELECT type_id, name, data_type FROM {sql.table(TypeProperty)}"
            f" WHERE type_id IN ({sql.marks(len(chunk))}) ORDER BY type_id, name",
            chunk,
        ):
            properties[type_id].append((name, data_type))
    result = []
    for type_id, kind, name, version, description, external_id, base_type in rows:
        message = KIND_BY_TYPE_KIND[TypeKind(kind)].type_proto()
        message.id = type_id
        message.name = name
        if version:
            message.version = version
        if description is not None:
            message.description = description
        if external_id:
            message.external_id = external_id
        if base_type:
            message.base_type = base_type
        for property_name, data_type in properties[type_id]:
            message.properties[property_name] = data_type
        result.append(message)
    return result


def types_by_ids(ids: Iterable[int]) -> list[tuple[int, Any]]:
    """(kind, message) of the types of any kind with the given ids, by id."""
    rows: list[tuple[Any, ...]] = []
    for chunk in sql.chunks(sorted(set(ids))):
        rows.extend(_type_rows(f"id IN ({sql.marks(len(chunk))})", chunk))
    return [(row[1], message) for row, message in zip(rows, type_protos(rows), strict=True)]


def get_type(kind: TypeKind, name: str, version: str = "") -> Any:
    rows = _type_rows("kind = %s AND name = %s AND version = %s", [int(kind), name, version or ""])
    if not rows:
        suffix = f" and version {version!r}" if version else ""
        raise NotFound(f"No {_KIND_LABEL[kind]} found with name {name!r}{suffix}")
    return type_protos(rows)[0]


def find_type(kind: TypeKind, name: str, version: str = "") -> Type | None:
    return Type.objects.filter(kind=kind, name=name, version=version or "").first()


def get_types(kind: TypeKind) -> list[Any]:
    return type_protos(_type_rows("kind = %s", [int(kind)]))


def get_types_by_id(kind: TypeKind, ids: Iterable[int]) -> list[Any]:
    rows: list[tuple[Any, ...]] = []
    for chunk in sql.chunks(sorted(set(ids))):
        rows.extend(_type_rows(f"kind = %s AND id IN ({sql.marks(len(chunk))})", [int(kind), *chunk]))
    return type_protos(rows)


def get_types_by_external_ids(kind: TypeKind, external_ids: Iterable[str]) -> list[Any]:
    ids = [e for e in external_ids]
    if any(not e for e in ids):
        raise InvalidArgument("external_ids must not contain an empty string")
    rows: list[tuple[Any, ...]] = []
    for chunk in sql.chunks(sorted(set(ids))):
        rows.extend(_type_rows(f"kind = %s AND external_id IN ({sql.marks(len(chunk))})", [int(kind), *chunk]))
    rows.sort()
    return type_protos(rows)


def declared_properties(type_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{type id: {property name: data type}} for the given types, in one query."""
    result: dict[int, dict[str, int]] = defaultdict(dict)
    wanted = sorted(set(type_ids))
    for chunk in sql.chunks(wanted):
        for type_id, name, data_type in sql.fetchall(
            f"SELECT type_id, name, data_type FROM {sql.table(TypeProperty)} WHERE type_id IN ({sql.marks(len(chunk))})",
            chunk,
        ):
            result[type_id][name] = data_type
    return result


class Declarations(dict[str, int]):
    """{property name: data type} a type declares; ``type_name`` is the type's name."""

    type_name: str = ""


def prefetch_declarations(type_ids: Iterable[int]) -> dict[tuple[int, int], Declarations]:
    """{(type kind, type id): {property name: data type}} for types of any kind, in one query.

    What a request that writes several kinds of node looks up once (the
    ``declarations`` cache of ``nodes.put_nodes``).
    """
    result: dict[tuple[int, int], Declarations] = {}
    types_table, properties_table = sql.table(Type), sql.table(TypeProperty)
    for chunk in sql.chunks(sorted(set(type_ids))):
        rows = sql.fetchall(
            f"SELECT t.kind, t.id, t.name, p.name, p.data_type FROM {types_table} t"
            f" LEFT JOIN {properties_table} p ON p.type_id = t.id WHERE t.id IN ({sql.marks(len(chunk))})",
            chunk,
        )
        for kind, type_id, type_name, name, data_type in rows:
            declared = result.get((kind, type_id))
            if declared is None:
                declared = result[(kind, type_id)] = Declarations()
                declared.type_name = type_name
            if name is not None:
                declared[name] = data_type
    return result


def type_declarations(kind: TypeKind, type_ids: Iterable[int]) -> dict[int, Declarations]:
    """{type id: {property name: data type}} for those of the given ids that are types of ``kind``.

    What a node write needs to check its type and properties, and the type's
    name for the message it stores (``prefetch_declarations``, one query).
    """
    return {type_id: declared for (found, type_id), declared in prefetch_declarations(type_ids).items() if found == kind}
