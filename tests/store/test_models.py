"""The data model's own rules: each uniqueness rule is enforced by the database itself,
and the single-row rules of ``clean()`` name the problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from store.choices import EventType, PropertyType, TypeKind
from store.models import (
    Artifact,
    ArtifactProperty,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextProperty,
    ContextType,
    Event,
    Execution,
    ExecutionProperty,
    ExecutionType,
    ParentContext,
    ParentType,
    Type,
    TypeProperty,
)
from tests.base import artifact_type, context_type, execution_type, make_artifact, make_context, make_execution

pytestmark = pytest.mark.django_db


def assert_refused_by_database(create: Callable[[], Any]) -> None:
    """``create`` twice: the second row breaks a unique constraint in the database."""
    create()
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


# --- uniqueness, enforced by the database ----------------------------------------------------


def test_type_kind_name_version_is_unique() -> None:
    assert_refused_by_database(lambda: Type.objects.create(kind=TypeKind.ARTIFACT, name="Dataset", version="1"))


def test_a_type_without_version_is_unique_too() -> None:
    # version is "" rather than NULL precisely so that this holds on MySQL as well.
    assert_refused_by_database(lambda: Type.objects.create(kind=TypeKind.ARTIFACT, name="Dataset"))


def test_the_same_type_name_is_allowed_in_other_kinds_and_versions() -> None:
    for kind in TypeKind:
        Type.objects.create(kind=kind, name="Thing")
    Type.objects.create(kind=TypeKind.ARTIFACT, name="Thing", version="2")
    assert Type.objects.filter(name="Thing").count() == 4


def test_type_external_id_is_unique_per_kind() -> None:
    assert_refused_by_database(
        lambda: Type.objects.create(kind=TypeKind.ARTIFACT, name=f"T{Type.objects.count()}", external_id="x")
    )
    Type.objects.create(kind=TypeKind.EXECUTION, name="T", external_id="x")  # another kind: fine


def test_many_types_may_have_no_external_id() -> None:
    for i in range(3):
        Type.objects.create(kind=TypeKind.ARTIFACT, name=f"T{i}", external_id=None)


def test_declared_property_name_is_unique_within_a_type() -> None:
    dataset = artifact_type()
    assert_refused_by_database(
        lambda: TypeProperty.objects.create(type=dataset, name="split", data_type=PropertyType.STRING)
    )


def test_parent_type_link_is_unique() -> None:
    base, derived = artifact_type("Base"), artifact_type("Derived")
    assert_refused_by_database(lambda: ParentType.objects.create(type=derived, parent=base))


@pytest.mark.parametrize(
    ("make_kind", "make_node"),
    [(artifact_type, make_artifact), (execution_type, make_execution), (context_type, make_context)],
    ids=["artifact", "execution", "context"],
)
def test_node_name_is_unique_within_its_type(make_kind: Callable[..., Type], make_node: Callable[..., Any]) -> None:
    kind = make_kind()
    assert_refused_by_database(lambda: make_node(kind, "same"))
    make_node(make_kind("Other"), "same")  # the same name in another type: fine


@pytest.mark.parametrize(
    ("make_kind", "make_node"),
    [(artifact_type, make_artifact), (execution_type, make_execution), (context_type, make_context)],
    ids=["artifact", "execution", "context"],
)
def test_node_external_id_is_unique(make_kind: Callable[..., Type], make_node: Callable[..., Any]) -> None:
    kind = make_kind()
    counter = iter(range(100))
    assert_refused_by_database(lambda: make_node(kind, f"n{next(counter)}", external_id="ext"))


def test_unnamed_artifacts_and_executions_may_share_a_type() -> None:
    dataset, trainer = artifact_type(), execution_type()
    for _ in range(2):
        make_artifact(dataset)
        make_execution(trainer)
    assert Artifact.objects.count() == Execution.objects.count() == 2


@pytest.mark.parametrize(
    ("model", "fk", "make_kind", "make_node"),
    [
        (ArtifactProperty, "artifact", artifact_type, make_artifact),
        (ExecutionProperty, "execution", execution_type, make_execution),
        (ContextProperty, "context", context_type, make_context),
    ],
    ids=["artifact", "execution", "context"],
)
def test_property_value_is_unique_per_node_name_and_customness(
    model: type, fk: str, make_kind: Callable[..., Type], make_node: Callable[..., Any]
) -> None:
    node = make_node(make_kind(), "n")
    assert_refused_by_database(lambda: model.objects.create(**{fk: node}, name="p", is_custom=True, int_value=1))
    model.objects.create(**{fk: node}, name="p", is_custom=False, int_value=1)  # declared twin: a separate row


@pytest.fixture
def graph() -> dict[str, Any]:
    artifact = make_artifact(artifact_type(), "a")
    execution = make_execution(execution_type(), "e")
    kind = context_type()
    return {
        "artifact": artifact,
        "execution": execution,
        "context": make_context(kind, "c"),
        "other": make_context(kind, "d"),
    }


def test_event_is_unique_per_artifact_execution_and_type(graph: dict[str, Any]) -> None:
    a, e = graph["artifact"], graph["execution"]
    assert_refused_by_database(lambda: Event.objects.create(artifact=a, execution=e, type=EventType.INPUT))
    Event.objects.create(artifact=a, execution=e, type=EventType.OUTPUT)  # another event type: fine


def test_attribution_is_unique(graph: dict[str, Any]) -> None:
    assert_refused_by_database(lambda: Attribution.objects.create(context=graph["context"], artifact=graph["artifact"]))


def test_association_is_unique(graph: dict[str, Any]) -> None:
    assert_refused_by_database(
        lambda: Association.objects.create(context=graph["context"], execution=graph["execution"])
    )


def test_parent_context_link_is_unique(graph: dict[str, Any]) -> None:
    assert_refused_by_database(lambda: ParentContext.objects.create(context=graph["context"], parent=graph["other"]))


def test_a_type_with_instances_cannot_be_deleted_in_the_database() -> None:
    dataset = artifact_type()
    make_artifact(dataset, "a")
    with pytest.raises(ProtectedError), transaction.atomic():
        dataset.delete()


# --- single-row rules in clean() -------------------------------------------------------------


def test_type_clean_rules() -> None:
    with pytest.raises(ValidationError, match="non-empty name"):
        Type(kind=TypeKind.ARTIFACT, name=" ").clean()
    with pytest.raises(ValidationError, match="not a base type of a context type"):
        Type(kind=TypeKind.CONTEXT, name="C", base_type=1).clean()
    row = Type(kind=TypeKind.ARTIFACT, name="A", external_id="")
    row.clean()
    assert row.external_id is None


def test_proxy_types_set_their_kind_and_list_only_their_kind() -> None:
    a = ArtifactType.objects.create(name="X")
    e = ExecutionType.objects.create(name="X")
    c = ContextType.objects.create(name="X")
    assert (a.kind, e.kind, c.kind) == (TypeKind.ARTIFACT, TypeKind.EXECUTION, TypeKind.CONTEXT)
    assert list(ArtifactType.objects.all()) == [a]


def test_type_property_needs_a_known_data_type() -> None:
    with pytest.raises(ValidationError, match="other than UNKNOWN"):
        TypeProperty(type=artifact_type(), name="p", data_type=PropertyType.UNKNOWN).clean()


def test_parent_type_rules() -> None:
    a, e = artifact_type("A"), execution_type("E")
    with pytest.raises(ValidationError, match="own parent"):
        ParentType(type=a, parent=a).clean()
    with pytest.raises(ValidationError, match="same kind"):
        ParentType(type=a, parent=e).clean()


def test_a_node_must_be_of_a_type_of_its_kind() -> None:
    with pytest.raises(ValidationError, match=r"is not an? artifact type"):
        Artifact(type=execution_type("Trainer"), name="a").clean()
    with pytest.raises(ValidationError, match="non-empty name"):
        Context(type=context_type(), name="").clean()


def test_a_property_value_holds_one_value() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        ArtifactProperty(name="p", int_value=1, string_value="1").clean()


def test_event_path_steps_are_index_or_key() -> None:
    Event(path=[{"index": 0}, {"key": "k"}]).clean()
    with pytest.raises(ValidationError, match="path step"):
        Event(path=[{"index": 0, "key": "k"}]).clean()


def test_a_context_cannot_be_its_own_parent_row() -> None:
    c = make_context(context_type(), "c")
    with pytest.raises(ValidationError, match="own parent"):
        ParentContext(context=c, parent=c).clean()


def test_readable_names() -> None:
    dataset = artifact_type("Dataset", version="2", properties={"split": PropertyType.STRING})
    artifact = make_artifact(dataset, None, uri="/data/x")
    assert str(dataset) == "Dataset (v2)"
    assert str(artifact) == "/data/x"
    assert str(TypeProperty.objects.get()) == "split: STRING"
