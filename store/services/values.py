"""Property values: MLMD ``Value`` messages to and from property rows.

A ``Value`` becomes the column set of one property row; the declared data type
of a type's property decides which kind of value it accepts.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format, struct_pb2

from store.choices import PropertyType
from store.models import VALUE_FIELDS, PropertyValue
from store.proto import metadata_store_pb2 as pb
from store.services.errors import InvalidArgument

_ONEOF_TO_TYPE = {
    "int_value": PropertyType.INT,
    "double_value": PropertyType.DOUBLE,
    "string_value": PropertyType.STRING,
    "struct_value": PropertyType.STRUCT,
    "proto_value": PropertyType.PROTO,
    "bool_value": PropertyType.BOOLEAN,
}


def value_kind(value: pb.Value) -> str | None:
    """Which field of the Value's oneof is set (None when the Value is empty)."""
    return value.WhichOneof("value")


_EMPTY_COLUMNS: dict[str, Any] = {**{field: None for field in VALUE_FIELDS}, "proto_type_url": None}
SCALAR_KINDS = frozenset({"int_value", "double_value", "string_value", "bool_value"})


def value_columns(value: pb.Value) -> dict[str, Any]:
    """The property-row columns for a Value; every value column is present."""
    columns = dict(_EMPTY_COLUMNS)
    kind = value.WhichOneof("value")
    if kind in SCALAR_KINDS:
        columns[kind] = getattr(value, kind)
    elif kind == "struct_value":
        columns["struct_value"] = json_format.MessageToDict(value.struct_value)
    elif kind == "proto_value":
        columns["proto_type_url"] = value.proto_value.type_url
        columns["proto_value"] = bytes(value.proto_value.value)
    return columns


def fill_value(target: pb.Value, row: PropertyValue) -> None:
    """Write a property row's value into a Value message."""
    if row.int_value is not None:
        target.int_value = row.int_value
    elif row.double_value is not None:
        target.double_value = row.double_value
    elif row.string_value is not None:
        target.string_value = row.string_value
    elif row.bool_value is not None:
        target.bool_value = row.bool_value
    elif row.struct_value is not None:
        struct = row.struct_value
        if isinstance(struct, str):  # some backends hand JSON back undecoded
            struct = json.loads(struct)
        json_format.ParseDict(struct, target.struct_value)
    elif row.proto_value is not None or row.proto_type_url is not None:
        target.proto_value.type_url = row.proto_type_url or ""
        target.proto_value.value = bytes(row.proto_value or b"")


# Value kinds of a stored property row (nodes._property_tuples).
INT, DOUBLE, STRING, BOOLEAN, STRUCT, PROTO = 1, 2, 3, 4, 5, 6


def tagged_value(
    int_value: Any, double_value: Any, string_value: Any, bool_value: Any, struct: Any, type_url: Any, proto: Any
) -> tuple[int, Any, Any]:
    """(value kind, value, proto type url) of a property row's value columns."""
    if int_value is not None:
        return INT, int_value, type_url
    if double_value is not None:
        return DOUBLE, double_value, type_url
    if string_value is not None:
        return STRING, string_value, type_url
    if bool_value is not None:
        return BOOLEAN, bool_value, type_url
    if struct is not None:
        return STRUCT, struct, type_url
    return PROTO, proto, type_url


def fill_properties(message: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    """Write stored property rows, (node id, name, is_custom, value kind, value, proto type url), into a node message.

    Values are as the database returns them: booleans may be 0/1, structs JSON text.
    """
    properties = message.properties
    custom_properties = message.custom_properties
    for _, name, is_custom, kind, value, type_url in rows:
        target = custom_properties[name] if is_custom else properties[name]
        if kind == STRING:
            target.string_value = value
        elif kind == INT:
            target.int_value = value
        elif kind == DOUBLE:
            target.double_value = float(value)
        elif kind == BOOLEAN:
            target.bool_value = bool(value)
        elif kind == STRUCT:
            json_format.ParseDict(json.loads(value) if isinstance(value, (str, bytes)) else value, target.struct_value)
        elif value is not None or type_url is not None:
            target.proto_value.type_url = type_url or ""
            target.proto_value.value = bytes(value or b"")


def decode_row(row: Any) -> Any:
    """A property row read with plain SQL, its values as the ORM would give them."""
    if row.bool_value is not None:
        row.bool_value = bool(row.bool_value)
    if isinstance(row.struct_value, (str, bytes)):
        row.struct_value = json.loads(row.struct_value)
    if row.proto_value is not None:
        row.proto_value = bytes(row.proto_value)
    row.is_custom = bool(row.is_custom)
    return row


def check_properties(
    node_label: str,
    declared: dict[str, int],
    properties: Any,
    custom_properties: Any,
) -> None:
    """Refuse property values that do not match the type's declaration.

    ``properties`` must be declared by the type with the same data type;
    custom properties may be anything but an empty Value.
    """
    for name, value in properties.items():
        if name not in declared:
            raise InvalidArgument(f"{node_label}: Found unknown property: {name} (the type declares {sorted(declared)})")
        kind = value_kind(value)
        if kind is None or _ONEOF_TO_TYPE[kind] != declared[name]:
            got = "no value" if kind is None else PropertyType(_ONEOF_TO_TYPE[kind]).label
            raise InvalidArgument(
                f"{node_label}: Found unmatched property type: {name} "
                f"(declared {PropertyType(declared[name]).label}, got {got})"
            )
    for name, value in custom_properties.items():
        if not name:
            raise InvalidArgument(f"{node_label}: a custom property needs a name")
        if value_kind(value) is None:
            raise InvalidArgument(f"{node_label}: Found unmatched property type: custom property {name} has no value")
    for name in properties:
        if not name:
            raise InvalidArgument(f"{node_label}: a property needs a name")


def python_value(value: pb.Value) -> Any:
    """A Value as a plain Python/JSON value (for the REST API and the dashboard)."""
    kind = value_kind(value)
    if kind is None:
        return None
    if kind == "struct_value":
        return json_format.MessageToDict(value.struct_value)
    if kind == "proto_value":
        return {"type_url": value.proto_value.type_url, "value": bytes(value.proto_value.value).hex()}
    return getattr(value, kind)


def row_python_value(row: PropertyValue) -> Any:
    """A property row's value as plain Python (no proto round trip)."""
    if row.proto_type_url is not None or row.proto_value is not None:
        return {"type_url": row.proto_type_url, "value": bytes(row.proto_value or b"").hex()}
    return row.value


def value_from_python(data: Any, data_type: int | None = None) -> pb.Value:
    """Build a Value from a JSON value, guided by the declared data type when known.

    A scalar given for a declared STRUCT becomes the scalar's own kind, so the
    property check names the mismatch instead of a wrapped value being stored.
    """
    value = pb.Value()
    if data_type == PropertyType.DOUBLE and isinstance(data, (int, float)) and not isinstance(data, bool):
        value.double_value = float(data)
    elif isinstance(data, (dict, list)) and data_type in (PropertyType.STRUCT, None):
        # A JSON list is kept in a struct as {"__list__": [...]}.
        struct = struct_pb2.Struct()
        struct.update(data if isinstance(data, dict) else {"__list__": data})
        value.struct_value.CopyFrom(struct)
    elif isinstance(data, bool):
        value.bool_value = data
    elif isinstance(data, int):
        value.int_value = data
    elif isinstance(data, float):
        value.double_value = data
    elif isinstance(data, str):
        value.string_value = data
    else:
        raise InvalidArgument(f"unsupported property value {data!r}")
    return value
