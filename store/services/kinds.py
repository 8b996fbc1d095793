"""The three node kinds (artifact, execution, context) described once.

Most rules are the same for all three; a ``NodeKind`` names the model, property
model, proto class and state field of one kind so that the services are written
once for all of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store.choices import TypeKind
from store.models import (
    Artifact,
    ArtifactProperty,
    Context,
    ContextProperty,
    Execution,
    ExecutionProperty,
    Node,
    PropertyValue,
)
from store.proto import metadata_store_pb2 as pb


@dataclass(frozen=True)
class NodeKind:
    name: str
    type_kind: TypeKind
    model: type[Node]
    property_model: type[PropertyValue]
    fk: str
    proto: Any
    type_proto: Any
    state_field: str | None

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @property
    def fk_id(self) -> str:
        return f"{self.fk}_id"


ARTIFACT = NodeKind(
    name="artifact",
    type_kind=TypeKind.ARTIFACT,
    model=Artifact,
    property_model=ArtifactProperty,
    fk="artifact",
    proto=pb.Artifact,
    type_proto=pb.ArtifactType,
    state_field="state",
)
EXECUTION = NodeKind(
    name="execution",
    type_kind=TypeKind.EXECUTION,
    model=Execution,
    property_model=ExecutionProperty,
    fk="execution",
    proto=pb.Execution,
    type_proto=pb.ExecutionType,
    state_field="last_known_state",
)
CONTEXT = NodeKind(
    name="context",
    type_kind=TypeKind.CONTEXT,
    model=Context,
    property_model=ContextProperty,
    fk="context",
    proto=pb.Context,
    type_proto=pb.ContextType,
    state_field=None,
)

KINDS = {kind.name: kind for kind in (ARTIFACT, EXECUTION, CONTEXT)}
KIND_BY_TYPE_KIND = {kind.type_kind: kind for kind in (ARTIFACT, EXECUTION, CONTEXT)}
