"""Artifacts, executions and contexts: inserting, updating and reading nodes.

Reads turn node rows into MLMD messages with a fixed number of queries per
call (nodes with their type, then all their property rows), whatever the number
of nodes.  Writes check every node of the request before changing anything.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db import connections
from django.db.models import QuerySet

from store.db import current_alias
from store.models import VALUE_FIELDS, Node, PropertyValue, Type
from store.services import values
from store.services.errors import FailedPrecondition, InvalidArgument, NotFound
from store.services.kinds import NodeKind
from store.services.transactions import now_ms
from store.services.types import declared_properties

_PLAIN_FIELDS = ("name", "external_id", "uri", "state", "last_known_state")


# ---------------------------------------------------------------------------- reads


_BASE_COLUMNS = ("id", "type_id", "name", "external_id", "create_time_since_epoch", "last_update_time_since_epoch")
_KIND_COLUMNS = {
    "artifact": ("uri", "state", "system_metadata"),
    "execution": ("last_known_state", "system_metadata"),
    "context": (),
}
_PROPERTY_COLUMNS = ("name", "is_custom", *VALUE_FIELDS, "proto_type_url")
_CHUNK = 500


def _rows(kind: NodeKind, nodes: Iterable[Any]) -> list[Any]:
    """Plain rows (attribute access) from a queryset, without building model instances."""
    if isinstance(nodes, QuerySet):
        columns = _BASE_COLUMNS + _KIND_COLUMNS[kind.name]
        return [SimpleNamespace(**dict(zip(columns, fields, strict=True))) for fields in nodes.values_list(*columns)]
    return list(nodes)


def property_rows(kind: NodeKind, node_ids: Sequence[int]) -> dict[int, list[Any]]:
    """{node id: [property rows]} in one query per 500 nodes."""
    result: dict[int, list[Any]] = defaultdict(list)
    columns = (kind.fk_id, *_PROPERTY_COLUMNS)
    for start in range(0, len(node_ids), _CHUNK):
        chunk = node_ids[start : start + _CHUNK]
        for fields in kind.property_model.objects.filter(**{f"{kind.fk_id}__in": chunk}).values_list(*columns):
            result[fields[0]].append(SimpleNamespace(**dict(zip(columns, fields, strict=True))))
    return result


def node_protos(kind: NodeKind, nodes: Iterable[Any]) -> list[Any]:
    """Node rows (or a queryset) as messages: type names and properties in one query each."""
    rows = _rows(kind, nodes)
    if not rows:
        return []
    type_names = dict(Type.objects.filter(id__in={r.type_id for r in rows}).values_list("id", "name"))
    props = property_rows(kind, [r.id for r in rows])
    return [_node_proto(kind, row, type_names.get(row.type_id), props.get(row.id, ())) for row in rows]


def _node_proto(kind: NodeKind, row: Any, type_name: str | None, props: Iterable[Any]) -> Any:
    message = kind.proto()
    message.id = row.id
    message.type_id = row.type_id
    if type_name is not None:
        message.type = type_name
    if row.name is not None:
        message.name = row.name
    if row.external_id is not None:
        message.external_id = row.external_id
    uri = getattr(row, "uri", None)
    if uri is not None:
        message.uri = uri
    if kind.state_field:
        state = getattr(row, kind.state_field)
        if state is not None:
            setattr(message, kind.state_field, state)
    message.create_time_since_epoch = row.create_time_since_epoch
    message.last_update_time_since_epoch = row.last_update_time_since_epoch
    system_metadata = getattr(row, "system_metadata", None)
    if system_metadata:
        message.system_metadata.ParseFromString(bytes(system_metadata))
    for prop in props:
        target = message.custom_properties if prop.is_custom else message.properties
        values.fill_value(target[prop.name], prop)
    return message


def nodes_by_ids(kind: NodeKind, ids: Iterable[int]) -> list[Any]:
    wanted = sorted(set(ids))
    rows: list[Any] = []
    for start in range(0, len(wanted), _CHUNK):
        rows.extend(_rows(kind, kind.model.objects.filter(id__in=wanted[start : start + _CHUNK]).order_by("id")))
    return node_protos(kind, rows)


def nodes_by_external_ids(kind: NodeKind, external_ids: Sequence[str]) -> list[Any]:
    if any(not e for e in external_ids):
        raise InvalidArgument(f"get {kind.name}s by external ids: an external id must not be empty")
    return node_protos(kind, kind.model.objects.filter(external_id__in=list(external_ids)).order_by("id"))


def node_by_type_and_name(kind: NodeKind, type_name: str, type_version: str, name: str) -> Any | None:
    if not type_name or not name:
        raise InvalidArgument(f"get {kind.name} by type and name: type_name and {kind.name}_name are required")
    row = (
        kind.model.objects.filter(
            type__kind=kind.type_kind, type__name=type_name, type__version=type_version or "", name=name
        )
        .first()
    )
    return node_protos(kind, [row])[0] if row else None


def nodes_of_type(kind: NodeKind, type_name: str, type_version: str = "") -> QuerySet[Any] | None:
    """Nodes of the named type (None when no such type exists)."""
    type_row = Type.objects.filter(kind=kind.type_kind, name=type_name, version=type_version or "").first()
    if type_row is None:
        return None
    return kind.model.objects.filter(type_id=type_row.id)


# ---------------------------------------------------------------------------- writes


@dataclass
class _Plan:
    """What one node of a request will become."""

    message: Any
    row: Node | None  # the stored row for an update, None for an insert
    fields: dict[str, Any] = field(default_factory=dict)
    properties: dict[tuple[str, bool], dict[str, Any]] = field(default_factory=dict)
    replace_properties: set[tuple[str, bool]] = field(default_factory=set)
    replace_all: tuple[bool, ...] = ()


def put_nodes(
    kind: NodeKind,
    messages: Sequence[Any],
    *,
    update_mask: Sequence[str] = (),
    abort_if_latest_updated_time_changed: bool = False,
    force_update_time: bool = False,
) -> list[int]:
    """Insert the messages without an id, update the ones with an id; return the ids in order."""
    if not messages:
        return []
    existing_ids = [m.id for m in messages if m.HasField("id")]
    stored = {row.id: row for row in kind.model.objects.filter(id__in=existing_ids)}
    stored_props: dict[int, list[PropertyValue]] = defaultdict(list)
    if stored:
        for prop in kind.property_model.objects.filter(**{f"{kind.fk_id}__in": list(stored)}):
            stored_props[getattr(prop, kind.fk_id)].append(prop)

    type_ids = {m.type_id for m in messages if m.HasField("type_id")} | {r.type_id for r in stored.values()}
    types = {t.id: t for t in Type.objects.filter(id__in=type_ids, kind=kind.type_kind)}
    declared = declared_properties(types)
    mask = _parse_mask(kind, update_mask)

    plans: list[_Plan] = []
    for position, message in enumerate(messages):
        label = f"{kind.label} #{position}"
        if message.HasField("id"):
            row = stored.get(message.id)
            if row is None:
                raise InvalidArgument(f"{label}: no {kind.name} with id {message.id} exists to update")
            if message.HasField("type_id") and message.type_id != row.type_id:
                raise InvalidArgument(
                    f"{label}: type_id {message.type_id} differs from the stored type_id {row.type_id} of {kind.name} {row.id}"
                )
            if (
                abort_if_latest_updated_time_changed
                and message.last_update_time_since_epoch != row.last_update_time_since_epoch
            ):
                raise FailedPrecondition(
                    f"{label}: {kind.name} {row.id} was updated at {row.last_update_time_since_epoch},"
                    f" after the given last_update_time_since_epoch {message.last_update_time_since_epoch}"
                )
            type_id = row.type_id
        else:
            if not message.HasField("type_id"):
                raise InvalidArgument(f"{label}: a new {kind.name} needs a type_id")
            type_id = message.type_id
            row = None
        if type_id not in types:
            raise NotFound(f"{label}: no {kind.type_kind.label.lower()} with id {type_id}")
        props_to_check = message.properties
        customs_to_check = message.custom_properties
        if row is not None and mask is not None:
            props_to_check = {k: v for k, v in message.properties.items() if mask.covers_property(k, False)}
            customs_to_check = {k: v for k, v in message.custom_properties.items() if mask.covers_property(k, True)}
        values.check_properties(label, declared.get(type_id, {}), props_to_check, customs_to_check)
        if kind.name == "context":
            name_in_effect = message.name if (row is None or mask is None or "name" in mask.fields) else row.name
            if not name_in_effect:
                raise InvalidArgument(f"{label}: a context needs a non-empty name")
        plans.append(_plan(kind, message, row, stored_props.get(row.id, []) if row else [], mask))

    now = now_ms()
    ids: list[int] = []
    updates = [p for p in plans if p.row is not None]
    _insert(kind, [p for p in plans if p.row is None], now)
    for plan in updates:
        _update(kind, plan, stored_props.get(plan.row.id, []), now, force_update_time)  # type: ignore[union-attr]
    for plan in plans:
        ids.append(plan.row.id)  # type: ignore[union-attr]
    return ids


@dataclass
class _Mask:
    fields: set[str]
    properties: set[str]
    custom_properties: set[str]
    all_properties: bool
    all_custom_properties: bool

    def covers_property(self, name: str, custom: bool) -> bool:
        if custom:
            return self.all_custom_properties or name in self.custom_properties
        return self.all_properties or name in self.properties


def _parse_mask(kind: NodeKind, paths: Sequence[str]) -> _Mask | None:
    """MLMD's field mask: unknown paths are ignored; an empty mask means "replace all"."""
    paths = [p for p in paths if p]
    if not paths:
        return None
    allowed = {"name", "external_id"} | ({"uri"} if kind.name == "artifact" else set())
    if kind.state_field:
        allowed.add(kind.state_field)
    mask = _Mask(set(), set(), set(), False, False)
    for path in paths:
        if path in allowed:
            mask.fields.add(path)
        elif path == "properties":
            mask.all_properties = True
        elif path == "custom_properties":
            mask.all_custom_properties = True
        elif path.startswith("properties."):
            mask.properties.add(path[len("properties."):])
        elif path.startswith("custom_properties."):
            mask.custom_properties.add(path[len("custom_properties."):])
    return mask


def _field_value(kind: NodeKind, message: Any, name: str) -> Any:
    if name == "uri" and kind.name != "artifact":
        return None
    if name in ("state", "last_known_state") and name != kind.state_field:
        return None
    if name == "external_id":
        return message.external_id or None
    return getattr(message, name) if message.HasField(name) else None


def _plan(kind: NodeKind, message: Any, row: Node | None, props: list[PropertyValue], mask: _Mask | None) -> _Plan:
    plan = _Plan(message=message, row=row)
    names = ["name", "external_id"] + (["uri"] if kind.name == "artifact" else []) + (
        [kind.state_field] if kind.state_field else []
    )
    for name in names:
        if row is None or mask is None or name in mask.fields:
            plan.fields[name] = _field_value(kind, message, name)
    if message.HasField("system_metadata") and kind.name != "context":
        plan.fields["system_metadata"] = message.system_metadata.SerializeToString()
    for custom, source in ((False, message.properties), (True, message.custom_properties)):
        for name, value in source.items():
            if row is None or mask is None or mask.covers_property(name, custom):
                plan.properties[(name, custom)] = values.value_columns(value)
    if row is not None:
        if mask is None:
            plan.replace_all = (False, True)
        else:
            plan.replace_all = tuple(
                c for c, flag in ((False, mask.all_properties), (True, mask.all_custom_properties)) if flag
            )
            plan.replace_properties = {(n, False) for n in mask.properties} | {(n, True) for n in mask.custom_properties}
    return plan


def _insert(kind: NodeKind, plans: list[_Plan], now: int) -> None:
    if not plans:
        return
    rows = []
    for plan in plans:
        row = kind.model(
            type_id=plan.message.type_id,
            create_time_since_epoch=now,
            last_update_time_since_epoch=now,
            **plan.fields,
        )
        rows.append(row)
    if connections[current_alias()].features.can_return_rows_from_bulk_insert and len(rows) > 1:
        kind.model.objects.bulk_create(rows, batch_size=500)
    else:
        for row in rows:
            row.save(force_insert=True)
    prop_rows = []
    for plan, row in zip(plans, rows, strict=True):
        plan.row = row
        for (name, custom), columns in plan.properties.items():
            prop_rows.append(kind.property_model(**{kind.fk_id: row.id}, name=name, is_custom=custom, **columns))
    if prop_rows:
        kind.property_model.objects.bulk_create(prop_rows, batch_size=1000)


def _prop_columns(prop: PropertyValue) -> dict[str, Any]:
    columns = {f: getattr(prop, f) for f in values.VALUE_FIELDS}
    columns["proto_type_url"] = prop.proto_type_url
    if columns["proto_value"] is not None:
        columns["proto_value"] = bytes(columns["proto_value"])
    return columns


def _update(kind: NodeKind, plan: _Plan, stored_props: list[PropertyValue], now: int, force_update_time: bool) -> None:
    row = plan.row
    assert row is not None
    changed_fields = {}
    for name, new in plan.fields.items():
        old = getattr(row, name)
        if name == "system_metadata" and old is not None:
            old = bytes(old)
        if old != new:
            changed_fields[name] = new

    current = {(p.name, p.is_custom): p for p in stored_props}
    wanted: dict[tuple[str, bool], dict[str, Any]] = {}
    for key, prop in current.items():
        replaced = key[1] in plan.replace_all or key in plan.replace_properties
        if not replaced:
            wanted[key] = _prop_columns(prop)
    wanted.update(plan.properties)
    to_delete = [p.id for key, p in current.items() if key not in wanted or _prop_columns(p) != wanted[key]]
    to_insert = [
        (key, cols) for key, cols in wanted.items() if key not in current or _prop_columns(current[key]) != cols
    ]
    if not changed_fields and not to_delete and not to_insert and not force_update_time:
        return
    changed_fields["last_update_time_since_epoch"] = max(now, row.last_update_time_since_epoch)
    kind.model.objects.filter(id=row.id).update(**changed_fields)
    for name, new in changed_fields.items():
        setattr(row, name, new)
    if to_delete:
        kind.property_model.objects.filter(id__in=to_delete).delete()
    if to_insert:
        kind.property_model.objects.bulk_create(
            [kind.property_model(**{kind.fk_id: row.id}, name=n, is_custom=c, **cols) for (n, c), cols in to_insert]
        )
