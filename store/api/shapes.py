"""Store messages and rows as the API's JSON: readable names, plain values, ISO times.

A property is ``"day": 1``, not a Value message; a node shows its type by name
and id; every time is given both as milliseconds since the epoch (as MLMD
stores it) and as ISO 8601 in UTC.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from store.choices import (
    ArtifactBaseType,
    ArtifactState,
    ContextBaseType,
    EventType,
    ExecutionBaseType,
    ExecutionState,
    PropertyType,
    TypeKind,
)
from store.models import Event
from store.services.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind
from store.services.values import python_value

BASE_TYPES = {TypeKind.ARTIFACT: ArtifactBaseType, TypeKind.EXECUTION: ExecutionBaseType, TypeKind.CONTEXT: ContextBaseType}
STATES = {"artifact": ArtifactState, "execution": ExecutionState}


def iso_time(milliseconds: int) -> str | None:
    """ISO 8601 (UTC, millisecond precision) of a time in ms since the epoch; None for unset (0)."""
    if not milliseconds:
        return None
    try:
        moment = datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def type_json(kind: TypeKind, message: Any) -> dict[str, Any]:
    base = message.base_type if message.HasField("base_type") else 0
    return {
        "id": message.id,
        "name": message.name,
        "version": message.version,
        "description": message.description if message.HasField("description") else None,
        "external_id": message.external_id or None,
        "base_type": BASE_TYPES[kind](base).label if base in BASE_TYPES[kind].values else str(base),
        "properties": {name: PropertyType(data_type).label for name, data_type in sorted(message.properties.items())},
    }


def plain_value(value: Any) -> Any:
    data = python_value(value)
    # value_from_python keeps a JSON list in a struct as {"__list__": [...]}.
    if isinstance(data, dict) and set(data) == {"__list__"}:
        return data["__list__"]
    return data


def _values(mapping: Any) -> dict[str, Any]:
    return {name: plain_value(value) for name, value in sorted(mapping.items())}


def node_json(kind: NodeKind, message: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": message.id,
        "type": message.type,
        "type_id": message.type_id,
        "name": message.name if message.HasField("name") else None,
        "external_id": message.external_id or None,
    }
    if kind is ARTIFACT:
        data["uri"] = message.uri if message.HasField("uri") else None
    if kind.state_field:
        state = getattr(message, kind.state_field)
        has_state = message.HasField(kind.state_field)
        data["state"] = STATES[kind.name](state).label if has_state else None
    data["properties"] = _values(message.properties)
    data["custom_properties"] = _values(message.custom_properties)
    data["create_time_since_epoch"] = message.create_time_since_epoch
    data["create_time"] = iso_time(message.create_time_since_epoch)
    data["last_update_time_since_epoch"] = message.last_update_time_since_epoch
    data["last_update_time"] = iso_time(message.last_update_time_since_epoch)
    return data


def nodes_json(kind: NodeKind, messages: Iterable[Any]) -> list[dict[str, Any]]:
    return [node_json(kind, m) for m in messages]


def event_row_json(row: Event) -> dict[str, Any]:
    return {
        "id": row.id,
        "artifact_id": row.artifact_id,
        "execution_id": row.execution_id,
        "type": EventType(row.type).label,
        "path": row.path or [],
        "milliseconds_since_epoch": row.milliseconds_since_epoch,
        "time": iso_time(row.milliseconds_since_epoch),
    }


def _path_json(event: Any) -> list[dict[str, Any]]:
    steps = []
    for step in event.path.steps:
        which = step.WhichOneof("value")
        steps.append({"index": step.index} if which == "index" else {"key": step.key})
    return steps


def graph_json(graph: Any) -> dict[str, Any]:
    """A LineageGraph message as nodes (artifacts and executions, keyed) and edges (events)."""
    nodes = [{"key": f"artifact/{a.id}", "kind": "artifact", **node_json(ARTIFACT, a)} for a in graph.artifacts]
    nodes += [{"key": f"execution/{e.id}", "kind": "execution", **node_json(EXECUTION, e)} for e in graph.executions]
    edges = []
    for event in graph.events:
        artifact, execution = f"artifact/{event.artifact_id}", f"execution/{event.execution_id}"
        output = event.type in _OUTPUTS
        edges.append(
            {
                "source": execution if output else artifact,
                "target": artifact if output else execution,
                "artifact_id": event.artifact_id,
                "execution_id": event.execution_id,
                "type": EventType(event.type).label,
                "path": _path_json(event),
                "milliseconds_since_epoch": event.milliseconds_since_epoch,
                "time": iso_time(event.milliseconds_since_epoch),
            }
        )
    return {
        "nodes": nodes,
        "edges": edges,
        "contexts": [node_json(CONTEXT, c) for c in graph.contexts],
        "attributions": [{"context_id": a.context_id, "artifact_id": a.artifact_id} for a in graph.attributions],
        "associations": [{"context_id": a.context_id, "execution_id": a.execution_id} for a in graph.associations],
    }


_OUTPUTS = {
    EventType.OUTPUT,
    EventType.DECLARED_OUTPUT,
    EventType.INTERNAL_OUTPUT,
    EventType.PENDING_OUTPUT,
}
