"""Request and response shapes of the REST API.

Request serializers check the *shape* of a body (types of fields, required
fields, enum names, no unknown keys) and name the field at fault; the store's
rules (type checks of properties, uniqueness, existence) stay in the core.
Response serializers describe what the views answer, for the OpenAPI schema.
"""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from store.choices import (
    ArtifactBaseType,
    ArtifactState,
    ContextBaseType,
    EventType,
    ExecutionBaseType,
    ExecutionState,
    PropertyType,
)

INT64_MAX = 2**63 - 1
NAME_LENGTH = 255

DATA_TYPES = [t.label for t in PropertyType if t != PropertyType.UNKNOWN]
ARTIFACT_STATES = [s.label for s in ArtifactState]
EXECUTION_STATES = [s.label for s in ExecutionState]
EVENT_TYPES = [t.label for t in EventType if t != EventType.UNKNOWN]
ALL_EVENT_TYPES = [t.label for t in EventType]
ARTIFACT_BASE_TYPES = [b.label for b in ArtifactBaseType]
EXECUTION_BASE_TYPES = [b.label for b in ExecutionBaseType]
CONTEXT_BASE_TYPES = [b.label for b in ContextBaseType]
INPUT_EVENT_TYPES = [t for t in EVENT_TYPES if t.endswith("INPUT")]
OUTPUT_EVENT_TYPES = [t for t in EVENT_TYPES if t.endswith("OUTPUT")]


class StrictCharField(serializers.CharField):
    """A JSON string, not a number turned into one."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, not a string or a float that looks like one."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def _id(**kwargs: Any) -> serializers.IntegerField:
    return StrictIntegerField(min_value=1, max_value=INT64_MAX, **kwargs)


def _name(**kwargs: Any) -> serializers.CharField:
    kwargs.setdefault("max_length", NAME_LENGTH)
    return StrictCharField(trim_whitespace=False, **kwargs)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, naming them, instead of silently ignoring them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class NamedMapField(serializers.DictField):
    """A JSON object whose keys are property names (at most 255 characters, as stored)."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            long = [key for key in data if len(str(key)) > NAME_LENGTH]
            if long:
                raise serializers.ValidationError(f"Property names are at most {NAME_LENGTH} characters.")
        return super().to_internal_value(data)


class PropertyMapField(NamedMapField):
    """{"name": plain JSON value}: typed by the type's declaration when the store converts it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.JSONField(allow_null=True), **kwargs)


# ---------------------------------------------------------------------------- types


class _TypeFields(StrictSerializer):
    name = _name()
    version = _name(required=False, allow_blank=True, default="")
    description = StrictCharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    external_id = _name(required=False, allow_null=True, allow_blank=True)
    properties = NamedMapField(
        child=serializers.ChoiceField(choices=DATA_TYPES), required=False, default=dict,
        help_text="Declared properties: name → data type.",
    )


class ArtifactTypeSerializer(_TypeFields):
    base_type = serializers.ChoiceField(choices=ARTIFACT_BASE_TYPES, required=False, default="UNSET")


class ExecutionTypeSerializer(_TypeFields):
    base_type = serializers.ChoiceField(choices=EXECUTION_BASE_TYPES, required=False, default="UNSET")


class ContextTypeSerializer(_TypeFields):
    base_type = serializers.ChoiceField(choices=CONTEXT_BASE_TYPES, required=False, default="UNSET")


class TypePatchSerializer(StrictSerializer):
    properties = NamedMapField(
        child=serializers.ChoiceField(choices=DATA_TYPES),
        help_text="Properties to add to the type (existing ones may be repeated with the same data type).",
    )


def _type_out(base_types: list[str], name: str) -> type[serializers.Serializer]:
    fields: dict[str, Any] = {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "version": serializers.CharField(allow_blank=True),
        "description": serializers.CharField(allow_null=True),
        "external_id": serializers.CharField(allow_null=True),
        "base_type": serializers.ChoiceField(choices=base_types),
        "properties": serializers.DictField(child=serializers.ChoiceField(choices=DATA_TYPES)),
    }
    return type(name, (serializers.Serializer,), fields)


ArtifactTypeOut = _type_out(ARTIFACT_BASE_TYPES, "ArtifactTypeOut")
ExecutionTypeOut = _type_out(EXECUTION_BASE_TYPES, "ExecutionTypeOut")
ContextTypeOut = _type_out(CONTEXT_BASE_TYPES, "ContextTypeOut")


# ---------------------------------------------------------------------------- nodes


class _NodeIn(StrictSerializer):
    type = _name(required=False, help_text="The type's name (or give type_id).")
    type_version = _name(required=False, allow_blank=True, default="")
    type_id = _id(required=False)
    name = _name(required=False, allow_null=True)
    external_id = _name(required=False, allow_null=True, allow_blank=True)
    properties = PropertyMapField(required=False, default=dict, help_text="Values of the type's declared properties.")
    custom_properties = PropertyMapField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "type" not in attrs and "type_id" not in attrs:
            raise serializers.ValidationError({"type": ["Give the type's name (type) or its id (type_id)."]})
        return attrs


class ArtifactIn(_NodeIn):
    uri = StrictCharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    state = serializers.ChoiceField(choices=ARTIFACT_STATES, required=False, allow_null=True)


class ExecutionIn(_NodeIn):
    state = serializers.ChoiceField(
        choices=EXECUTION_STATES, required=False, allow_null=True, help_text="MLMD's last_known_state."
    )


class ContextIn(_NodeIn):
    name = _name()


class _NodePatch(StrictSerializer):
    name = _name(required=False, allow_null=True)
    external_id = _name(required=False, allow_null=True, allow_blank=True)
    properties = PropertyMapField(required=False, help_text="Properties to set; null removes one.")
    custom_properties = PropertyMapField(required=False, help_text="Custom properties to set; null removes one.")


class ArtifactPatch(_NodePatch):
    uri = StrictCharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    state = serializers.ChoiceField(choices=ARTIFACT_STATES, required=False, allow_null=True)
    last_update_time_since_epoch = StrictIntegerField(
        required=False, min_value=0, max_value=INT64_MAX,
        help_text="If given, the update is refused (409) when the artifact changed since this time.",
    )


class ExecutionPatch(_NodePatch):
    state = serializers.ChoiceField(choices=EXECUTION_STATES, required=False, allow_null=True)


class ContextPatch(_NodePatch):
    name = _name(required=False)


def _node_out(name: str, extra: dict[str, Any]) -> type[serializers.Serializer]:
    fields: dict[str, Any] = {
        "id": serializers.IntegerField(),
        "type": serializers.CharField(),
        "type_id": serializers.IntegerField(),
        "name": serializers.CharField(allow_null=True),
        "external_id": serializers.CharField(allow_null=True),
        **extra,
        "properties": serializers.DictField(child=serializers.JSONField()),
        "custom_properties": serializers.DictField(child=serializers.JSONField()),
        "create_time_since_epoch": serializers.IntegerField(),
        "create_time": serializers.CharField(allow_null=True, help_text="ISO 8601, UTC."),
        "last_update_time_since_epoch": serializers.IntegerField(),
        "last_update_time": serializers.CharField(allow_null=True, help_text="ISO 8601, UTC."),
    }
    return type(name, (serializers.Serializer,), fields)


ArtifactOut = _node_out(
    "ArtifactOut",
    {
        "uri": serializers.CharField(allow_null=True, allow_blank=True),
        "state": serializers.ChoiceField(choices=ARTIFACT_STATES, allow_null=True),
    },
)
ExecutionOut = _node_out("ExecutionOut", {"state": serializers.ChoiceField(choices=EXECUTION_STATES, allow_null=True)})
ContextOut = _node_out("ContextOut", {})


# ---------------------------------------------------------------------------- edges


class PathStep(StrictSerializer):
    index = StrictIntegerField(required=False, min_value=-INT64_MAX, max_value=INT64_MAX)
    key = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError('A path step is {"index": n} or {"key": "s"}.')
        return attrs


class EventIn(StrictSerializer):
    artifact_id = _id()
    execution_id = _id()
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    path = PathStep(many=True, required=False)
    milliseconds_since_epoch = StrictIntegerField(required=False, min_value=0, max_value=INT64_MAX)


class EventOut(serializers.Serializer):
    id = serializers.IntegerField()
    artifact_id = serializers.IntegerField()
    execution_id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=ALL_EVENT_TYPES)
    path = serializers.ListField(child=serializers.DictField(child=serializers.JSONField()))
    milliseconds_since_epoch = serializers.IntegerField()
    time = serializers.CharField(allow_null=True)


class AttributionIn(StrictSerializer):
    context_id = _id()
    artifact_id = _id()


class AttributionOut(serializers.Serializer):
    id = serializers.IntegerField()
    context_id = serializers.IntegerField()
    artifact_id = serializers.IntegerField()


class AssociationIn(StrictSerializer):
    context_id = _id()
    execution_id = _id()


class AssociationOut(serializers.Serializer):
    id = serializers.IntegerField()
    context_id = serializers.IntegerField()
    execution_id = serializers.IntegerField()


class ContextRef(StrictSerializer):
    """A context by id, or by type and name."""

    id = _id(required=False)
    type = _name(required=False)
    type_version = _name(required=False, allow_blank=True, default="")
    name = _name(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "id" in attrs:
            if "type" in attrs or "name" in attrs:
                raise serializers.ValidationError("Give a context's id, or its type and name, not both.")
        elif "type" not in attrs or "name" not in attrs:
            raise serializers.ValidationError("Give a context's id, or its type and name.")
        return attrs


class ParentContextIn(StrictSerializer):
    child_id = _id(required=False)
    parent_id = _id(required=False)
    child = ContextRef(required=False)
    parent = ContextRef(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for end in ("child", "parent"):
            if (f"{end}_id" in attrs) == (end in attrs):
                raise serializers.ValidationError({f"{end}_id": [f"Give {end}_id or {end} (a context reference), one of them."]})
        return attrs


class ParentContextOut(serializers.Serializer):
    id = serializers.IntegerField()
    child_id = serializers.IntegerField()
    parent_id = serializers.IntegerField()


# ---------------------------------------------------------------------------- record and lookup


class ArtifactRef(StrictSerializer):
    """An existing artifact, by id or by uri."""

    id = _id(required=False)
    uri = StrictCharField(required=False, trim_whitespace=False)
    path = PathStep(many=True, required=False)
    event_type = serializers.ChoiceField(
        choices=INPUT_EVENT_TYPES, required=False, default="INPUT"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("id" in attrs) == ("uri" in attrs):
            raise serializers.ValidationError({"id": ["Give the artifact's id or its uri, one of them."]})
        return attrs


class RecordOutput(ArtifactIn):
    state = serializers.ChoiceField(choices=ARTIFACT_STATES, required=False, default="LIVE")
    path = PathStep(many=True, required=False)
    event_type = serializers.ChoiceField(
        choices=OUTPUT_EVENT_TYPES, required=False, default="OUTPUT"
    )


class RecordContext(StrictSerializer):
    """A context by id, or by type and name (created when missing, with these properties)."""

    id = _id(required=False)
    type = _name(required=False)
    type_version = _name(required=False, allow_blank=True, default="")
    name = _name(required=False)
    properties = PropertyMapField(required=False, default=dict)
    custom_properties = PropertyMapField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return ContextRef.validate(self, attrs)  # type: ignore[arg-type]


class RecordIn(StrictSerializer):
    execution = ExecutionIn()
    inputs = ArtifactRef(many=True, required=False, default=list)
    outputs = RecordOutput(many=True, required=False, default=list)
    contexts = RecordContext(many=True, required=False, default=list)


class RecordOut(serializers.Serializer):
    execution = ExecutionOut()
    inputs = ArtifactOut(many=True)
    outputs = ArtifactOut(many=True)
    contexts = ContextOut(many=True)


class LookupIn(StrictSerializer):
    type = _name(required=False)
    type_version = _name(required=False, allow_blank=True, default="")
    type_id = _id(required=False)
    properties = PropertyMapField(required=False, default=dict)
    inputs = ArtifactRef(many=True, required=False, default=list)
    limit = StrictIntegerField(required=False, min_value=1, max_value=100, default=20)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return _NodeIn.validate(self, attrs)  # type: ignore[arg-type]


class LookupHit(serializers.Serializer):
    execution = ExecutionOut()
    outputs = ArtifactOut(many=True)


class LookupOut(serializers.Serializer):
    hits = LookupHit(many=True)


# ---------------------------------------------------------------------------- graphs, retention, errors


class GraphNode(serializers.Serializer):
    key = serializers.CharField(help_text='"artifact/<id>" or "execution/<id>".')
    kind = serializers.ChoiceField(choices=["artifact", "execution"])
    id = serializers.IntegerField()
    type = serializers.CharField()
    type_id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True)
    external_id = serializers.CharField(allow_null=True)
    uri = serializers.CharField(allow_null=True, allow_blank=True, required=False)
    state = serializers.CharField(allow_null=True)
    properties = serializers.DictField(child=serializers.JSONField())
    custom_properties = serializers.DictField(child=serializers.JSONField())
    create_time_since_epoch = serializers.IntegerField()
    create_time = serializers.CharField(allow_null=True)
    last_update_time_since_epoch = serializers.IntegerField()
    last_update_time = serializers.CharField(allow_null=True)


class GraphEdge(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    artifact_id = serializers.IntegerField()
    execution_id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=ALL_EVENT_TYPES)
    path = serializers.ListField(child=serializers.DictField(child=serializers.JSONField()))
    milliseconds_since_epoch = serializers.IntegerField()
    time = serializers.CharField(allow_null=True)


class GraphOut(serializers.Serializer):
    nodes = GraphNode(many=True)
    edges = GraphEdge(many=True)
    contexts = ContextOut(many=True)
    attributions = serializers.ListField(child=serializers.DictField(child=serializers.IntegerField()))
    associations = serializers.ListField(child=serializers.DictField(child=serializers.IntegerField()))


class RunDeletionOut(serializers.Serializer):
    context_id = serializers.IntegerField()
    context_name = serializers.CharField()
    context_type = serializers.CharField()
    dry_run = serializers.BooleanField()
    execution_ids = serializers.ListField(child=serializers.IntegerField())
    artifact_ids = serializers.ListField(child=serializers.IntegerField())
    kept_artifact_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="Produced by the run but used elsewhere: kept."
    )
    events = serializers.IntegerField()
    attributions = serializers.IntegerField()
    associations = serializers.IntegerField()
    parent_links = serializers.IntegerField()


class ErrorItem(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    detail = serializers.CharField()


class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    field = serializers.CharField(allow_null=True, help_text="The request field at fault, when there is one.")
    errors = ErrorItem(many=True)
    position = serializers.IntegerField(required=False, help_text="Offset of the problem in a filter query.")


def page_of(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    fields = {
        "results": item(many=True),
        "next_cursor": serializers.CharField(allow_null=True, help_text="Pass as ?cursor= for the next page."),
        "next": serializers.CharField(allow_null=True, help_text="The next page's URL."),
    }
    # A page is one object, although it answers a list action.
    return extend_schema_serializer(many=False)(type(name, (serializers.Serializer,), fields))
