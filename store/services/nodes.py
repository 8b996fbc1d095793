"""Artifacts, executions and contexts: inserting, updating and reading nodes.

Reads turn node rows into MLMD messages with a fixed number of queries per
call (nodes with their type, then all their property rows), whatever the number
of nodes.  Writes check every node of the request before changing anything,
then insert nodes and their properties a statement per table (multi-row).
Both run plain SQL (``store.services.sql``): building ORM queries cost more
than running them.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

from django.db.models import QuerySet

from store.models import VALUE_FIELDS, Type
from store.services import sql, values
from store.services.errors import FailedPrecondition, InvalidArgument, NotFound
from store.services.kinds import NodeKind
from store.services.transactions import now_ms
from store.services.types import type_declarations

_PLAIN_FIELDS = ("name", "external_id", "uri", "state", "last_known_state")


# ---------------------------------------------------------------------------- reads


_BASE_COLUMNS = ("id", "type_id", "name", "external_id", "create_time_since_epoch", "last_update_time_since_epoch")
_KIND_COLUMNS = {
    "artifact": ("uri", "state", "system_metadata"),
    "execution": ("last_known_state", "system_metadata"),
    "context": (),
}
_PROPERTY_COLUMNS = ("name", "is_custom", *VALUE_FIELDS, "proto_type_url")
# A property row as the reads fetch it: the node's id, then these.
_VALUE_COLUMNS = (
    "name", "is_custom", "int_value", "double_value", "string_value", "bool_value",
    "struct_value", "proto_type_url", "proto_value",
)
_CHUNK = sql.CHUNK


def node_columns(kind: NodeKind) -> tuple[str, ...]:
    """The node columns a message is built from, in the order of the row tuples they work on."""
    return _BASE_COLUMNS + _KIND_COLUMNS[kind.name]


_SERIALIZED = "serialized"


def read_columns(kind: NodeKind) -> tuple[str, ...]:
    """What the reads fetch: ``node_columns``, then the stored message (``Node.serialized``)."""
    return (*node_columns(kind), _SERIALIZED)


def _rows(kind: NodeKind, nodes: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Node rows as tuples in ``read_columns`` order, from a queryset (one query) or from objects."""
    names = read_columns(kind)
    if isinstance(nodes, QuerySet):
        return sql.fetch_queryset(nodes, names)
    return [tuple(getattr(node, name) for name in names) for node in nodes]


def select_rows(kind: NodeKind, where: str, params: Sequence[Any], *, order: str = "id") -> list[tuple[Any, ...]]:
    """Node rows (``read_columns`` order) matching a WHERE clause of plain SQL."""
    return sql.fetchall(
        f"SELECT {sql.columns(read_columns(kind))} FROM {sql.table(kind.model)} WHERE {where} ORDER BY {order}",
        params,
    )


# A property row as the reads fetch it: (node id, name, is_custom, value kind, value, proto type url).
# The kinds (values.INT ... values.PROTO) say which value column holds the value.
_TAG_SQL = (
    "CASE WHEN int_value IS NOT NULL THEN 1 WHEN double_value IS NOT NULL THEN 2"
    " WHEN string_value IS NOT NULL THEN 3 WHEN bool_value IS NOT NULL THEN 4"
    " WHEN struct_value IS NOT NULL THEN 5 ELSE 6 END"
)


def _property_tuples(kind: NodeKind, node_ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
    """{node id: [(node id, name, is_custom, value kind, value, proto type url)]}, one query per 500 nodes.

    On SQLite the database picks the value column (COALESCE keeps each value's
    own type there): half the columns to fetch.  Elsewhere every column is
    fetched and the choice is made here.
    """
    result: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    fk = sql.quote(kind.fk_id)
    compact = sql.vendor() == "sqlite"
    if compact:
        head = (
            f"SELECT {fk}, name, is_custom, {_TAG_SQL},"
            " COALESCE(int_value, double_value, string_value, bool_value, struct_value, proto_value), proto_type_url"
            f" FROM {sql.table(kind.property_model)} WHERE {fk} IN "
        )
    else:
        head = f"SELECT {fk}, {sql.columns(_VALUE_COLUMNS)} FROM {sql.table(kind.property_model)} WHERE {fk} IN "
    for chunk in sql.chunks(node_ids):
        rows = sql.fetchall(f"{head}({sql.marks(len(chunk))})", chunk)
        if not compact:
            rows = [(row[0], row[1], row[2], *values.tagged_value(*row[3:])) for row in rows]
        # Rows come grouped by node (the unique index is read in id order); a node met twice just gets more.
        for node_id, group in groupby(rows, _FIRST):
            result[node_id].extend(group)
    return result


_FIRST = itemgetter(0)


def property_rows(kind: NodeKind, node_ids: Sequence[int]) -> dict[int, list[Any]]:
    """{node id: [property rows]} (attribute access, values decoded) in one query per 500 nodes."""
    _, properties = _stored_properties_only(kind, node_ids)
    return properties


def _type_names(type_ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(type_ids))
    if not wanted:
        return {}
    return dict(sql.fetchall(f"SELECT id, name FROM {sql.table(Type)} WHERE id IN ({sql.marks(len(wanted))})", wanted))


def node_protos(kind: NodeKind, nodes: Iterable[Any], *, into: Any = None) -> list[Any]:
    """Node rows (a queryset, model instances, or tuples in ``read_columns`` or ``node_columns`` order) as messages.

    A node whose stored message is there (``Node.serialized``) is parsed from
    it; the others are built from their rows, with a fixed number of queries
    whatever their number: the type names in one, the properties in one per
    500 nodes.  ``into``: a repeated message field of a response to build them
    in (extending one with finished messages copies each of them).
    """
    rows = nodes if isinstance(nodes, list) and nodes and isinstance(nodes[0], tuple) else _rows(kind, nodes)
    if not rows:
        return []
    width = len(node_columns(kind))
    stored = len(rows[0]) > width
    to_build = [row for row in rows if row[width] is None] if stored else rows
    if to_build:
        type_names = _type_names({row[1] for row in to_build})
        props = _property_tuples(kind, [row[0] for row in to_build])
    fill = _FILLERS[kind.name]
    new = kind.proto if into is None else into.add
    messages = []
    for row in rows:
        message = new()
        blob = row[width] if stored else None
        if blob is not None:
            message.id = row[0]
            message.MergeFromString(blob if isinstance(blob, bytes) else bytes(blob))
        else:
            fill(message, row, type_names.get(row[1]), props.get(row[0], ()))
        messages.append(message)
    return messages


def serialized_message(
    kind: NodeKind, row: Sequence[Any], type_name: str | None, properties: Iterable[tuple[str, bool, dict[str, Any]]]
) -> bytes | None:
    """What ``Node.serialized`` holds for a node about to be written: its message without the id.

    ``row`` is in ``node_columns`` order (its id is ignored), ``properties``
    (name, is_custom, value columns) as the writes store them.  Built by the
    same code as a read from the database builds it, from the same values.
    None (rebuilt when read) when the type's name is not known here.
    """
    if type_name is None:
        return None
    tuples = [
        (0, name, custom, *values.tagged_value(
            columns["int_value"], columns["double_value"], columns["string_value"], columns["bool_value"],
            columns["struct_value"], columns["proto_type_url"], columns["proto_value"],
        ))
        for name, custom, columns in properties
    ]
    message = kind.proto()
    _FILLERS[kind.name](message, row, type_name, tuples)
    message.ClearField("id")
    return message.SerializeToString()


def _common(message: Any, row: tuple[Any, ...], type_name: str | None) -> None:
    message.id = row[0]
    message.type_id = row[1]
    if type_name is not None:
        message.type = type_name
    if row[2] is not None:
        message.name = row[2]
    if row[3] is not None:
        message.external_id = row[3]
    message.create_time_since_epoch = row[4]
    message.last_update_time_since_epoch = row[5]


def _fill_artifact(message: Any, row: tuple[Any, ...], type_name: str | None, props: Sequence[tuple[Any, ...]]) -> None:
    _common(message, row, type_name)
    if row[6] is not None:
        message.uri = row[6]
    if row[7] is not None:
        message.state = row[7]
    if row[8]:
        message.system_metadata.ParseFromString(bytes(row[8]))
    if props:
        values.fill_properties(message, props)


def _fill_execution(message: Any, row: tuple[Any, ...], type_name: str | None, props: Sequence[tuple[Any, ...]]) -> None:
    _common(message, row, type_name)
    if row[6] is not None:
        message.last_known_state = row[6]
    if row[7]:
        message.system_metadata.ParseFromString(bytes(row[7]))
    if props:
        values.fill_properties(message, props)


def _fill_context(message: Any, row: tuple[Any, ...], type_name: str | None, props: Sequence[tuple[Any, ...]]) -> None:
    _common(message, row, type_name)
    if props:
        values.fill_properties(message, props)


_FILLERS = {"artifact": _fill_artifact, "execution": _fill_execution, "context": _fill_context}


def nodes_by_ids(kind: NodeKind, ids: Iterable[int], *, into: Any = None) -> list[Any]:
    """The nodes with these ids (those that exist), by id; ``into`` as for ``node_protos``."""
    wanted = sorted(set(ids))
    rows: list[tuple[Any, ...]] = []
    for chunk in sql.chunks(wanted):
        rows.extend(select_rows(kind, f"id IN ({sql.marks(len(chunk))})", chunk))
    return node_protos(kind, rows, into=into)


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


def type_id_of(kind: NodeKind, type_name: str, type_version: str = "") -> int | None:
    """The id of the named type of ``kind``'s nodes (None when no such type exists)."""
    found = sql.fetchall(
        f"SELECT id FROM {sql.table(Type)} WHERE kind = %s AND name = %s AND version = %s",
        [int(kind.type_kind), type_name, type_version or ""],
    )
    return found[0][0] if found else None



# ---------------------------------------------------------------------------- writes


@dataclass
class _Plan:
    """What one node of a request will become."""

    message: Any
    row: Any | None  # the stored row for an update, None for an insert
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
    declarations: dict[tuple[int, int], dict[str, int] | None] | None = None,
) -> list[int]:
    """Insert the messages without an id, update the ones with an id; return the ids in order.

    ``declarations`` is a cache of type declarations ({(type kind, type id):
    {property: data type}}) that the calls of one request may share, so that a
    request writing several kinds of node looks each type up once.
    """
    if not messages:
        return []
    mask = _parse_mask(kind, update_mask)
    existing_ids = sorted({m.id for m in messages if m.HasField("id")})
    unchanged: dict[int, SimpleNamespace] = {}
    if existing_ids and mask is None and not force_update_time and not abort_if_latest_updated_time_changed:
        unchanged = find_unchanged(kind, [m for m in messages if m.HasField("id")])
    stored, stored_props = _stored(kind, [i for i in existing_ids if i not in unchanged])
    stored.update(unchanged)

    type_ids = {m.type_id for m in messages if m.HasField("type_id")} | {r.type_id for r in stored.values()}
    if declarations is None:
        declarations = {}
    missing = [t for t in type_ids if (kind.type_kind, t) not in declarations]
    if missing:
        for type_id, declared_here in type_declarations(kind.type_kind, missing).items():
            declarations[(kind.type_kind, type_id)] = declared_here
    types = {t: declarations[(kind.type_kind, t)] for t in type_ids if declarations.get((kind.type_kind, t)) is not None}

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
        check_node(kind, label, message, types, type_id, row, mask)
        if row is None or row.id in unchanged:
            plans.append(_Plan(message=message, row=row))  # an insert, or nothing to write
            continue
        plans.append(_plan(kind, message, row, mask))

    now = now_ms()
    new_ids = iter(insert_new(kind, [p.message for p in plans if p.row is None], types, now))
    ids: list[int] = []
    for plan in plans:
        if plan.row is None:
            ids.append(next(new_ids))
            continue
        if plan.row.id not in unchanged:
            _update(kind, plan, stored_props.get(plan.row.id, []), now, force_update_time, _type_name(types, plan.row.type_id))
        ids.append(plan.row.id)
    return ids


def check_node(
    kind: NodeKind,
    label: str,
    message: Any,
    types: dict[int, Any],
    type_id: int,
    row: Any | None = None,
    mask: _Mask | None = None,
) -> None:
    """Refuse a node the write would store against its type: an unknown type, properties
    the type does not declare as given, a context without a name.

    ``row`` is the stored node for an update (None for a new one); ``mask``
    limits the check to what an update with that field mask writes.
    """
    if type_id not in types:
        raise NotFound(f"{label}: no {kind.type_kind.label.lower()} with id {type_id}")
    props_to_check = message.properties
    customs_to_check = message.custom_properties
    if row is not None and mask is not None:
        props_to_check = {k: v for k, v in message.properties.items() if mask.covers_property(k, False)}
        customs_to_check = {k: v for k, v in message.custom_properties.items() if mask.covers_property(k, True)}
    values.check_properties(label, types[type_id], props_to_check, customs_to_check)
    if kind.name == "context":
        name_in_effect = message.name if (row is None or mask is None or "name" in mask.fields) else row.name
        if not name_in_effect:
            raise InvalidArgument(f"{label}: a context needs a non-empty name")


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


def _plan(kind: NodeKind, message: Any, row: Any, mask: _Mask | None) -> _Plan:
    """What an update of the stored ``row`` writes (new nodes go through ``insert_new``)."""
    plan = _Plan(message=message, row=row)
    for name in _plain_fields(kind):
        if mask is None or name in mask.fields:
            plan.fields[name] = _field_value(kind, message, name)
    if message.HasField("system_metadata") and kind.name != "context":
        plan.fields["system_metadata"] = message.system_metadata.SerializeToString()
    for custom, source in ((False, message.properties), (True, message.custom_properties)):
        for name, value in source.items():
            if mask is None or mask.covers_property(name, custom):
                plan.properties[(name, custom)] = values.value_columns(value)
    if mask is None:
        plan.replace_all = (False, True)
    else:
        plan.replace_all = tuple(c for c, flag in ((False, mask.all_properties), (True, mask.all_custom_properties)) if flag)
        plan.replace_properties = {(n, False) for n in mask.properties} | {(n, True) for n in mask.custom_properties}
    return plan


def find_unchanged(kind: NodeKind, messages: Sequence[Any]) -> dict[int, SimpleNamespace]:
    """{id: stored row (id, type_id)} of the messages that would update their node to what is stored.

    Such a request (a pipeline passing its input artifacts back, a context
    given again) changes nothing, and finding that out from the stored message
    (``Node.serialized``) costs one query without the property rows.  The
    comparison is the one an update makes, for an update without a field mask:
    the same plain fields and the same properties, both kinds replaced whole.
    Anything else (no stored message, a system_metadata to compare, another
    type) goes the long way, which also raises the errors.
    """
    times_given = Counter(m.id for m in messages)
    # A node given twice is updated twice, in order: that is the long way's business.
    wanted = {m.id: m for m in messages if times_given[m.id] == 1 and not m.HasField("system_metadata")}
    found: dict[int, SimpleNamespace] = {}
    if not wanted:
        return found
    for chunk in sql.chunks(sorted(wanted)):
        for node_id, type_id, blob in sql.fetchall(
            f"SELECT id, type_id, {sql.quote(_SERIALIZED)} FROM {sql.table(kind.model)}"
            f" WHERE id IN ({sql.marks(len(chunk))}) AND {sql.quote(_SERIALIZED)} IS NOT NULL",
            chunk,
        ):
            message = wanted[node_id]
            if message.HasField("type_id") and message.type_id != type_id:
                continue
            if _compared_part(kind, kind.proto.FromString(bytes(blob))) == _compared_part(kind, message):
                found[node_id] = SimpleNamespace(id=node_id, type_id=type_id)
    return found


def _compared_part(kind: NodeKind, message: Any) -> Any:
    """A copy of a node message holding only what an update without a mask replaces.

    That is the plain fields of ``_plain_fields`` and both property maps, the
    long way's own rule.  Two of them compare as an update would, in one
    comparison of the protobuf runtime, maps included.
    """
    return _trimmed_copy(kind, message, _not_replaced(kind))


def _trimmed_copy(kind: NodeKind, message: Any, cleared: Iterable[str]) -> Any:
    """A copy of a node message without the ``cleared`` fields; an empty external_id counts as none, as stored."""
    copy = kind.proto()
    copy.CopyFrom(message)
    for name in cleared:
        copy.ClearField(name)
    if copy.HasField("external_id") and not copy.external_id:
        copy.ClearField("external_id")
    return copy


@lru_cache(maxsize=8)
def _not_replaced(kind: NodeKind) -> tuple[str, ...]:
    """The fields of ``kind``'s message that an update without a mask leaves alone or checks apart."""
    replaced = {*_plain_fields(kind), "properties", "custom_properties"}
    return tuple(f.name for f in kind.proto.DESCRIPTOR.fields if f.name not in replaced)


def _plain_fields(kind: NodeKind) -> list[str]:
    """The node's own fields an update without a mask replaces (properties aside)."""
    return ["name", "external_id"] + (["uri"] if kind.name == "artifact" else []) + (
        [kind.state_field] if kind.state_field else []
    )


def _stored_properties_only(kind: NodeKind, node_ids: Sequence[int]) -> tuple[None, dict[int, list[SimpleNamespace]]]:
    names = (kind.fk_id, *_VALUE_COLUMNS)
    head = f"SELECT {sql.columns(names)} FROM {sql.table(kind.property_model)} WHERE {sql.quote(kind.fk_id)} IN "
    result: dict[int, list[SimpleNamespace]] = defaultdict(list)
    for chunk in sql.chunks(node_ids):
        for fields in sql.fetchall(f"{head}({sql.marks(len(chunk))})", chunk):
            result[fields[0]].append(values.decode_row(SimpleNamespace(**dict(zip(_VALUE_COLUMNS, fields[1:], strict=True)))))
    return None, result


@lru_cache(maxsize=32)
def _stored_head(vendor: str, kind: NodeKind) -> str:
    fk = sql.quote(kind.fk_id)
    return (
        f"SELECT {', '.join('n.' + sql.quote(name) for name in node_columns(kind))},"
        f" {', '.join('p.' + sql.quote(name) for name in ('id', *_VALUE_COLUMNS))}"
        f" FROM {sql.table(kind.model)} n LEFT JOIN {sql.table(kind.property_model)} p ON p.{fk} = n.id"
        " WHERE n.id IN "
    )


def _stored(kind: NodeKind, ids: Sequence[int]) -> tuple[dict[int, SimpleNamespace], dict[int, list[SimpleNamespace]]]:
    """The stored rows of the given ids and their property rows, in one query (a LEFT JOIN) per 500 ids.

    Rows have attribute access; system_metadata is bytes, property values are decoded.
    """
    stored: dict[int, SimpleNamespace] = {}
    properties: dict[int, list[SimpleNamespace]] = defaultdict(list)
    if not ids:
        return stored, properties
    names = node_columns(kind)
    width = len(names)
    property_names = ("id", *_VALUE_COLUMNS)
    head = _stored_head(sql.vendor(), kind)
    for chunk in sql.chunks(ids):
        for fields in sql.fetchall(f"{head}({sql.marks(len(chunk))})", chunk):
            node_id = fields[0]
            if node_id not in stored:
                row = SimpleNamespace(**dict(zip(names, fields[:width], strict=True)))
                if getattr(row, "system_metadata", None) is not None:
                    row.system_metadata = bytes(row.system_metadata)
                stored[node_id] = row
            if fields[width] is not None:
                prop = SimpleNamespace(**dict(zip(property_names, fields[width:], strict=True)))
                properties[node_id].append(values.decode_row(prop))
    return stored, properties


_INSERT_PROPERTY_COLUMNS = ("name", "is_custom", *VALUE_FIELDS, "proto_type_url")


def _property_values(fk: int, name: str, custom: bool, columns: dict[str, Any]) -> tuple[Any, ...]:
    return (
        fk,
        name,
        custom,
        columns["int_value"],
        columns["double_value"],
        columns["string_value"],
        columns["bool_value"],
        sql.json_text(columns["struct_value"]),
        columns["proto_value"],
        columns["proto_type_url"],
    )


def _insert_properties(kind: NodeKind, rows: list[tuple[Any, ...]]) -> None:
    sql.insert(kind.property_model, (kind.fk_id, *_INSERT_PROPERTY_COLUMNS), rows)


def _type_name(types: dict[int, Any], type_id: int) -> str | None:
    return getattr(types.get(type_id), "type_name", None)


def insert_new(kind: NodeKind, messages: Sequence[Any], types: dict[int, Any], now: int) -> list[int]:
    """Insert nodes without an id that ``check_node`` accepted; their new ids, in order.

    A statement for the nodes and one for their property rows.  Each row and
    stored message is made straight from the request's message (``_new_row``).
    """
    if not messages:
        return []
    field_names = _WRITE_FIELDS[kind.name]
    names = ("type_id", *field_names, "create_time_since_epoch", "last_update_time_since_epoch", _SERIALIZED)
    rows = []
    properties = []
    for message in messages:
        row, node_properties = _new_row(kind, message, field_names, _type_name(types, message.type_id), now)
        rows.append(row)
        properties.append(node_properties)
    ids = sql.insert(kind.model, names, rows, returning=True)
    prop_rows = [(node_id, *values) for node_id, node_properties in zip(ids, properties, strict=True) for values in node_properties]
    if prop_rows:
        _insert_properties(kind, prop_rows)
    return ids


def _new_row(
    kind: NodeKind, message: Any, field_names: Sequence[str], type_name: str | None, now: int
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """A new node's row (``insert_new``'s column order) and its property rows without the node id.

    The stored message is the request's own, less what the store does not
    keep, with the type's name and the times: what ``serialized_message``
    builds from the same values, at a fraction of the cost.  A struct or proto
    value is stored as its columns read back, so a node holding one has its
    message built from the columns, as before.
    """
    fields = [_field_value(kind, message, name) for name in field_names if name != "system_metadata"]
    if "system_metadata" in field_names:  # the last of them
        fields.append(message.system_metadata.SerializeToString() if message.HasField("system_metadata") else None)
    property_rows = []
    scalar = True
    for custom, source in ((False, message.properties), (True, message.custom_properties)):
        for name in source:
            value = source[name]
            slot = _SCALAR_SLOTS.get(value.WhichOneof("value"))
            if slot is not None:
                columns: list[Any] = [None] * _VALUE_COLUMN_COUNT
                columns[slot] = getattr(value, VALUE_FIELDS[slot])
                property_rows.append((name, custom, *columns))
            else:
                scalar = False
                property_rows.append(_property_values(0, name, custom, values.value_columns(value))[1:])
    if type_name is None:
        blob = None
    elif scalar:
        blob = _stored_copy(kind, message, type_name, now)
    else:  # a struct or proto value reads back from its columns: build the message from them
        blob = serialized_message(
            kind,
            (0, message.type_id, fields[0], fields[1], now, now, *fields[2:]),
            type_name,
            (
                (name, custom, values.value_columns(value))
                for custom, source in ((False, message.properties), (True, message.custom_properties))
                for name, value in source.items()
            ),
        )
    return (message.type_id, *fields, now, now, blob), property_rows


# A property row's value columns as written (``_property_values``): VALUE_FIELDS, then the proto type url;
# a scalar value goes in its own field's column.
_VALUE_COLUMN_COUNT = len(VALUE_FIELDS) + 1
_SCALAR_SLOTS = {name: VALUE_FIELDS.index(name) for name in values.SCALAR_KINDS}


def _stored_copy(kind: NodeKind, message: Any, type_name: str, now: int) -> bytes:
    """The stored message of a new node whose values are all scalars: a copy of the request's."""
    copy = _trimmed_copy(kind, message, _not_stored(kind))
    copy.DiscardUnknownFields()
    if copy.HasField("system_metadata") and not copy.system_metadata.ByteSize():
        copy.ClearField("system_metadata")  # empty bytes are read back as none
    copy.type = type_name
    copy.create_time_since_epoch = now
    copy.last_update_time_since_epoch = now
    return copy.SerializeToString()


@lru_cache(maxsize=8)
def _not_stored(kind: NodeKind) -> tuple[str, ...]:
    """The fields of a new node's message that the store does not keep as given: what an
    update leaves alone (``_not_replaced``) but for the type id and, on nodes that have
    it in their row, system_metadata."""
    kept = {"type_id"} | ({"system_metadata"} if "system_metadata" in _WRITE_FIELDS[kind.name] else set())
    return tuple(name for name in _not_replaced(kind) if name not in kept)


_WRITE_FIELDS = {
    "artifact": ("name", "external_id", "uri", "state", "system_metadata"),
    "execution": ("name", "external_id", "last_known_state", "system_metadata"),
    "context": ("name", "external_id"),
}


def _prop_columns(prop: Any) -> dict[str, Any]:
    columns = {f: getattr(prop, f) for f in values.VALUE_FIELDS}
    columns["proto_type_url"] = prop.proto_type_url
    if columns["proto_value"] is not None:
        columns["proto_value"] = bytes(columns["proto_value"])
    return columns


def _update(
    kind: NodeKind, plan: _Plan, stored_props: list[Any], now: int, force_update_time: bool, type_name: str | None
) -> None:
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
    final = {name: changed_fields.get(name, getattr(row, name)) for name in node_columns(kind)[1:]}
    changed_fields[_SERIALIZED] = serialized_message(
        kind,
        (0, *(final[name] for name in node_columns(kind)[1:])),
        type_name,
        ((name, custom, columns) for (name, custom), columns in wanted.items()),
    )
    assignments = ", ".join(f"{sql.quote(name)} = %s" for name in changed_fields)
    sql.execute(
        f"UPDATE {sql.table(kind.model)} SET {assignments} WHERE id = %s", [*changed_fields.values(), row.id]
    )
    for name, new in changed_fields.items():
        if name != _SERIALIZED:
            setattr(row, name, new)
    if to_delete:
        sql.execute(
            f"DELETE FROM {sql.table(kind.property_model)} WHERE id IN ({sql.marks(len(to_delete))})", to_delete
        )
    if to_insert:
        _insert_properties(kind, [_property_values(row.id, n, c, cols) for (n, c), cols in to_insert])
