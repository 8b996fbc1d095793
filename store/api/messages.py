"""Validated request JSON to store messages: types by name, plain values to Values.

Only what an adapter must do lives here: look up the types and artifacts a
body names (a read), and turn JSON values into MLMD ``Value`` messages guided
by the type's declaration.  Whether a value fits its declaration is the
core's rule: a mismatching value is passed on and the core refuses it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from store.api.errors import BadRequest
from store.choices import ArtifactState, EventType, ExecutionState, PropertyType, TypeKind
from store.models import Artifact, Context, Type
from store.proto import metadata_store_pb2 as pb
from store.services.errors import InvalidArgument
from store.services.kinds import ARTIFACT, EXECUTION, NodeKind
from store.services.types import declared_properties
from store.services.values import value_from_python

TypeKey = tuple[str, str]  # (name, version)
DATA_TYPE_BY_NAME = {t.label: t.value for t in PropertyType}
EVENT_TYPE_BY_NAME = {t.label: t.value for t in EventType}
STATE_BY_NAME = {
    "artifact": {s.label: s.value for s in ArtifactState},
    "execution": {s.label: s.value for s in ExecutionState},
}


class TypeIndex:
    """The types a request names, looked up in one query, with their declared properties."""

    def __init__(self, kind: TypeKind, keys: Iterable[TypeKey] = (), ids: Iterable[int] = ()) -> None:
        self.kind = kind
        keys, ids = set(keys), set(ids)
        rows: list[Type] = []
        if keys:
            names = {name for name, _ in keys}
            rows += [t for t in Type.objects.filter(kind=kind, name__in=names) if (t.name, t.version) in keys]
        if ids:
            rows += list(Type.objects.filter(kind=kind, id__in=ids))
        self.by_key = {(t.name, t.version): t for t in rows}
        self.by_id = {t.id: t for t in rows}
        self.declared = declared_properties(self.by_id) if rows else {}

    def resolve(self, data: Mapping[str, Any], field: str) -> Type:
        """The type a node's JSON names by ``type`` (+ ``type_version``) or ``type_id``."""
        label = TypeKind(self.kind).label.lower()
        if "type_id" in data:
            row = self.by_id.get(data["type_id"])
            if row is None:
                raise BadRequest(f"no {label} with id {data['type_id']}", f"{field}type_id", "not_found")
            if "type" in data and data["type"] != row.name:
                raise BadRequest(f"type {data['type']!r} is not the name of type_id {row.id}", f"{field}type")
            return row
        key = (data["type"], data.get("type_version") or "")
        row = self.by_key.get(key)
        if row is None:
            version = f" version {key[1]!r}" if key[1] else ""
            raise BadRequest(f"unknown {label} {key[0]!r}{version}", f"{field}type", "not_found")
        return row


def type_keys(items: Iterable[Mapping[str, Any]]) -> set[TypeKey]:
    return {(i["type"], i.get("type_version") or "") for i in items if "type" in i and "type_id" not in i}


def type_ids(items: Iterable[Mapping[str, Any]]) -> set[int]:
    return {i["type_id"] for i in items if "type_id" in i}


def to_value(data: Any, data_type: int | None, field: str) -> pb.Value:
    """A JSON value as an MLMD Value, shaped by the declared data type when there is one."""
    if data_type == PropertyType.PROTO and isinstance(data, dict) and set(data) == {"type_url", "value"}:
        return _proto_value(data, field)
    try:
        return value_from_python(data, data_type)
    except InvalidArgument as exc:
        raise BadRequest(f"{exc.message}", field) from exc
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadRequest(f"value {data!r} cannot be stored: {exc}", field) from exc


def _proto_value(data: dict[str, Any], field: str) -> pb.Value:
    value = pb.Value()
    if not isinstance(data["type_url"], str) or not isinstance(data["value"], str):
        raise BadRequest('a proto value is {"type_url": "...", "value": "<hex bytes>"}', field)
    try:
        payload = bytes.fromhex(data["value"])
    except ValueError as exc:
        raise BadRequest("a proto value's value is its bytes in hex", field) from exc
    value.proto_value.type_url = data["type_url"]
    value.proto_value.value = payload
    return value


def fill_properties(
    target: Any, values: Mapping[str, Any], declared: Mapping[str, int], field: str, *, custom: bool
) -> list[str]:
    """Set each non-null value; return the names given as null (to be removed by an update)."""
    removed = []
    for name, data in values.items():
        if data is None:
            removed.append(name)
            continue
        target[name].CopyFrom(to_value(data, None if custom else declared.get(name), f"{field}.{name}"))
    return removed


def node_message(kind: NodeKind, data: Mapping[str, Any], type_row: Type, declared: Mapping[str, int], field: str = "") -> Any:
    """A new node's message from its validated JSON."""
    message = kind.proto(type_id=type_row.id)
    if data.get("name") is not None:
        message.name = data["name"]
    if data.get("external_id"):
        message.external_id = data["external_id"]
    if kind is ARTIFACT and data.get("uri") is not None:
        message.uri = data["uri"]
    if kind.state_field and data.get("state") is not None:
        setattr(message, kind.state_field, STATE_BY_NAME[kind.name][data["state"]])
    fill_properties(message.properties, data.get("properties") or {}, declared, f"{field}properties", custom=False)
    fill_properties(message.custom_properties, data.get("custom_properties") or {}, {}, f"{field}custom_properties", custom=True)
    return message


def node_messages(kind: NodeKind, items: Sequence[Mapping[str, Any]], *, indexed: bool) -> list[Any]:
    """Messages for new nodes, types looked up together; field names are ``[i].name`` when ``indexed``."""
    index = TypeIndex(kind.type_kind, type_keys(items), type_ids(items))
    messages = []
    for position, data in enumerate(items):
        prefix = f"[{position}]." if indexed else ""
        row = index.resolve(data, prefix)
        messages.append(node_message(kind, data, row, index.declared.get(row.id, {}), prefix))
    return messages


def patch_message(kind: NodeKind, node_id: int, type_id: int, data: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """The message and update mask of a partial update: only the given fields change."""
    declared = declared_properties([type_id]).get(type_id, {})
    message = kind.proto(id=node_id, type_id=type_id)
    mask: list[str] = []
    for name in ("name", "external_id", "uri", "state"):
        if name not in data:
            continue
        value = data[name]
        target = (kind.state_field or name) if name == "state" else name
        mask.append(target)
        if value is None or value == "":
            continue
        if name == "state":
            setattr(message, target, STATE_BY_NAME[kind.name][value])
        else:
            setattr(message, target, value)
    for group, custom in (("properties", False), ("custom_properties", True)):
        values = data.get(group) or {}
        fill_properties(getattr(message, group), values, declared, group, custom=custom)
        mask += [f"{group}.{name}" for name in values]
    if "last_update_time_since_epoch" in data:
        message.last_update_time_since_epoch = data["last_update_time_since_epoch"]
    return message, mask


def event_message(data: Mapping[str, Any]) -> pb.Event:
    event = pb.Event(artifact_id=data["artifact_id"], execution_id=data["execution_id"], type=EVENT_TYPE_BY_NAME[data["type"]])
    fill_path(event, data.get("path"))
    if "milliseconds_since_epoch" in data:
        event.milliseconds_since_epoch = data["milliseconds_since_epoch"]
    return event


def fill_path(event: pb.Event, steps: Sequence[Mapping[str, Any]] | None) -> None:
    if not steps:
        return
    event.path.SetInParent()
    for step in steps:
        if "index" in step:
            event.path.steps.add().index = step["index"]
        else:
            event.path.steps.add().key = step["key"]


def artifact_ids_of(refs: Sequence[Mapping[str, Any]], field: str) -> list[int]:
    """Ids of artifacts given by id or uri; a uri must name exactly one artifact."""
    uris = {r["uri"] for r in refs if "uri" in r}
    found: dict[str, list[int]] = {}
    if uris:
        for artifact_id, uri in Artifact.objects.filter(uri__in=uris).order_by("id").values_list("id", "uri"):
            found.setdefault(uri, []).append(artifact_id)
    ids = []
    for position, ref in enumerate(refs):
        if "id" in ref:
            ids.append(ref["id"])
            continue
        matches = found.get(ref["uri"], [])
        if not matches:
            raise BadRequest(f"no artifact has uri {ref['uri']!r}", f"{field}[{position}].uri", "not_found")
        if len(matches) > 1:
            raise BadRequest(
                f"{len(matches)} artifacts have uri {ref['uri']!r} (ids {matches[:5]}); give the id instead",
                f"{field}[{position}].uri",
            )
        ids.append(matches[0])
    return ids


def context_id_of(ref: Mapping[str, Any], field: str) -> int:
    """A context reference's id: checked to exist, or looked up by type and name."""
    if "id" in ref:
        if not Context.objects.filter(id=ref["id"]).exists():
            raise BadRequest(f"no context with id {ref['id']}", f"{field}.id", "not_found")
        return int(ref["id"])
    found = (
        Context.objects.filter(
            type__kind=TypeKind.CONTEXT, type__name=ref["type"], type__version=ref.get("type_version") or "", name=ref["name"]
        )
        .values_list("id", flat=True)
        .first()
    )
    if found is None:
        raise BadRequest(f"no context {ref['name']!r} of type {ref['type']!r}", f"{field}.name", "not_found")
    return int(found)


def execution_type_of(data: Mapping[str, Any], field: str = "") -> Type:
    index = TypeIndex(TypeKind.EXECUTION, type_keys([data]), type_ids([data]))
    return index.resolve(data, field)


__all__ = [
    "EXECUTION",
    "TypeIndex",
    "artifact_ids_of",
    "context_id_of",
    "event_message",
    "execution_type_of",
    "fill_path",
    "node_message",
    "node_messages",
    "patch_message",
    "to_value",
]
