"""Edits staff make in the admin: the allowed ones save, the harmful ones are refused.

A refused edit re-renders the form (200) with a message naming the problem and
leaves the database exactly as it was; nothing answers 500.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from store.choices import PropertyType, TypeKind
from store.models import (
    Artifact,
    ArtifactProperty,
    ArtifactType,
    Attribution,
    Context,
    ContextProperty,
    ContextType,
    ExecutionType,
    ParentContext,
    ParentType,
    Type,
    TypeProperty,
)
from tests.admin.helpers import add_inline_row, changeform_data, error_text, inline_prefix, inline_row_index
from tests.base import artifact_type, context_type, make_artifact, make_context

pytestmark = pytest.mark.django_db


def _url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:store_{model._meta.model_name}_{view}", args=args)


def _open(client: Client, model: type, *args: Any) -> tuple[str, dict[str, Any], Any]:
    """GET an add (no args) or change page; return its URL, its unchanged POST data and the response."""
    url = _url(model, "change", *args) if args else _url(model, "add")
    response = client.get(url)
    assert response.status_code == 200
    return url, changeform_data(response), response


def _refused(response: Any, fragment: str) -> None:
    assert response.status_code == 200, "the form should be shown again with an error"
    errors = error_text(response)
    assert fragment in errors, errors
    assert fragment in html.unescape(response.content.decode())


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _snapshot(*models: type) -> dict[str, list[tuple[Any, ...]]]:
    return {model.__name__: list(model._default_manager.order_by("pk").values_list()) for model in models}


STORE_TABLES = (
    Type,
    TypeProperty,
    ParentType,
    Artifact,
    ArtifactProperty,
    Context,
    ContextProperty,
    ParentContext,
    Attribution,
)


# --- (a) a declared property's data type cannot change while values of it exist --------------


def test_changing_a_declared_property_data_type_with_values_is_refused(superuser_client: Client) -> None:
    model_type = artifact_type("Model", properties={"accuracy": PropertyType.DOUBLE})
    make_artifact(model_type, "m1", properties={"accuracy": 0.9})
    url, data, page = _open(superuser_client, ArtifactType, model_type.pk)
    prefix = inline_prefix(page, TypeProperty)
    row = inline_row_index(data, prefix, "name", "accuracy")
    data[f"{prefix}-{row}-data_type"] = str(PropertyType.STRING)
    before = _snapshot(*STORE_TABLES)

    response = superuser_client.post(url, data)

    _refused(response, "Cannot change the data type of property 'accuracy'")
    assert "1 artifact hold a value" in error_text(response)
    assert _snapshot(*STORE_TABLES) == before


def test_changing_a_declared_property_data_type_without_values_is_allowed(superuser_client: Client) -> None:
    model_type = artifact_type("Model", properties={"accuracy": PropertyType.DOUBLE})
    url, data, page = _open(superuser_client, ArtifactType, model_type.pk)
    prefix = inline_prefix(page, TypeProperty)
    data[f"{prefix}-{inline_row_index(data, prefix, 'name', 'accuracy')}-data_type"] = str(PropertyType.STRING)

    assert superuser_client.post(url, data).status_code == 302
    assert TypeProperty.objects.get(type=model_type, name="accuracy").data_type == PropertyType.STRING


@pytest.mark.parametrize("change", ["rename", "delete"])
def test_removing_or_renaming_a_declared_property_with_values_is_refused(superuser_client: Client, change: str) -> None:
    model_type = artifact_type("Model", properties={"accuracy": PropertyType.DOUBLE})
    make_artifact(model_type, "m1", properties={"accuracy": 0.9})
    url, data, page = _open(superuser_client, ArtifactType, model_type.pk)
    prefix = inline_prefix(page, TypeProperty)
    row = inline_row_index(data, prefix, "name", "accuracy")
    if change == "rename":
        data[f"{prefix}-{row}-name"] = "acc"
    else:
        data[f"{prefix}-{row}-DELETE"] = "on"
    before = _snapshot(*STORE_TABLES)

    response = superuser_client.post(url, data)

    _refused(response, "Cannot remove or rename property 'accuracy'")
    assert _snapshot(*STORE_TABLES) == before


# --- (b) a type with instances cannot be deleted -------------------------------------------


def test_deleting_a_type_with_instances_is_refused(superuser_client: Client) -> None:
    dataset = artifact_type("Dataset")
    make_artifact(dataset, "d1")
    url = _url(ArtifactType, "delete", dataset.pk)

    for response in (superuser_client.get(url), superuser_client.post(url, {"post": "yes"})):
        assert response.status_code == 302
        assert response["Location"] == _url(ArtifactType, "change", dataset.pk)
        assert any("still has 1 artifact" in m for m in _messages(response))
    assert Type.objects.filter(pk=dataset.pk).exists()

    page = superuser_client.get(_url(ArtifactType, "change", dataset.pk))
    assert page.status_code == 200


def test_bulk_deleting_types_with_instances_is_refused(superuser_client: Client) -> None:
    used = artifact_type("Dataset")
    unused = artifact_type("Unused")
    make_artifact(used, "d1")
    changelist = _url(ArtifactType, "changelist")

    for extra in ({}, {"post": "yes"}):  # the confirmation page, and a forged confirmation
        response = superuser_client.post(
            changelist, {"action": "delete_selected", "_selected_action": [used.pk, unused.pk], **extra}, follow=True
        )
        assert response.status_code == 200
        page = response.content.decode()
        assert "still has 1 artifact" in page
        assert "Nothing was deleted." in page
    assert Type.objects.filter(pk__in=[used.pk, unused.pk]).count() == 2


def test_deleting_types_without_instances_still_works(superuser_client: Client) -> None:
    unused = artifact_type("Unused", properties={"p": PropertyType.INT})
    other = artifact_type("Other")
    assert superuser_client.post(_url(ArtifactType, "delete", unused.pk), {"post": "yes"}).status_code == 302
    assert not Type.objects.filter(pk=unused.pk).exists()

    changelist = _url(ArtifactType, "changelist")
    confirm = superuser_client.post(changelist, {"action": "delete_selected", "_selected_action": [other.pk]})
    assert confirm.status_code == 200 and "Are you sure" in confirm.content.decode()
    superuser_client.post(changelist, {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"})
    assert not Type.objects.filter(pk=other.pk).exists()


# --- (c) a parent context link must not make a context its own ancestor ----------------------


@pytest.fixture
def chain() -> tuple[Context, Context, Context]:
    """grandparent ← parent ← child (each arrow a ParentContext row)."""
    kind = context_type("Experiment")
    grandparent, parent, child = (make_context(kind, name) for name in ("grandparent", "parent", "child"))
    ParentContext.objects.create(context=parent, parent=grandparent)
    ParentContext.objects.create(context=child, parent=parent)
    return grandparent, parent, child


@pytest.mark.parametrize("new_parent", ["parent", "child"])
def test_a_parent_context_that_creates_a_cycle_is_refused_on_the_context_page(
    superuser_client: Client, chain: tuple[Context, Context, Context], new_parent: str
) -> None:
    grandparent, parent, child = chain
    url, data, page = _open(superuser_client, Context, grandparent.pk)
    add_inline_row(data, inline_prefix(page, ParentContext), parent={"parent": parent, "child": child}[new_parent].pk)
    before = _snapshot(*STORE_TABLES)

    response = superuser_client.post(url, data)

    _refused(response, "would create a cycle")
    assert _snapshot(*STORE_TABLES) == before


def test_a_context_cannot_be_its_own_parent(superuser_client: Client, chain: tuple[Context, Context, Context]) -> None:
    _grandparent, parent, _child = chain
    url, data, page = _open(superuser_client, Context, parent.pk)
    add_inline_row(data, inline_prefix(page, ParentContext), parent=parent.pk)
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), "cannot be its own parent")
    assert _snapshot(*STORE_TABLES) == before


def test_a_parent_context_row_that_creates_a_cycle_is_refused(
    superuser_client: Client, chain: tuple[Context, Context, Context]
) -> None:
    grandparent, _parent, child = chain
    url, data, _page = _open(superuser_client, ParentContext)
    data.update(context=grandparent.pk, parent=child.pk)
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), "would create a cycle")
    assert _snapshot(*STORE_TABLES) == before


def test_editing_a_parent_context_row_into_a_cycle_is_refused(
    superuser_client: Client, chain: tuple[Context, Context, Context]
) -> None:
    grandparent, parent, child = chain
    link = ParentContext.objects.get(context=parent, parent=grandparent)
    url, data, _page = _open(superuser_client, ParentContext, link.pk)
    data["parent"] = child.pk
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), "would create a cycle")
    assert _snapshot(*STORE_TABLES) == before


def test_a_parent_type_that_creates_a_cycle_is_refused(superuser_client: Client) -> None:
    base = artifact_type("Base")
    derived = artifact_type("Derived")
    ParentType.objects.create(type=derived, parent=base)
    url, data, page = _open(superuser_client, ArtifactType, base.pk)
    add_inline_row(data, inline_prefix(page, ParentType), parent=derived.pk)
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), "would create a cycle")
    assert _snapshot(*STORE_TABLES) == before


# --- (d) a custom property may not shadow a declared one; declared values must match ---------


def test_a_custom_property_shadowing_a_declared_one_is_refused(superuser_client: Client) -> None:
    trainer_output = artifact_type("Model", properties={"lr": PropertyType.DOUBLE})
    model = make_artifact(trainer_output, "m1")
    url, data, page = _open(superuser_client, Artifact, model.pk)
    add_inline_row(data, inline_prefix(page, ArtifactProperty), name="lr", is_custom=True, double_value="0.1")
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), "Custom property 'lr' shadows the property of the same name")
    assert _snapshot(*STORE_TABLES) == before


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"name": "lr", "string_value": "fast"}, "declared DOUBLE, so its value goes in double_value"),
        ({"name": "epochs", "int_value": "3"}, "Property 'epochs' is not declared by the type"),
        ({"name": "lr", "double_value": "0.1", "int_value": "1"}, "holds 2 values"),
        ({"name": "note", "is_custom": True}, "Property 'note' has no value"),
        ({"name": "cfg", "is_custom": True, "struct_value": "[1, 2]"}, "a struct value is a JSON object"),
    ],
)
def test_property_values_that_do_not_fit_the_type_are_refused(
    superuser_client: Client, row: dict[str, Any], message: str
) -> None:
    model = make_artifact(artifact_type("Model", properties={"lr": PropertyType.DOUBLE}), "m1")
    url, data, page = _open(superuser_client, Artifact, model.pk)
    add_inline_row(data, inline_prefix(page, ArtifactProperty), **row)
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), message)
    assert _snapshot(*STORE_TABLES) == before


# --- (e) names are unique within a type; types unique per kind -------------------------------


def test_adding_an_artifact_with_a_taken_name_is_a_form_error(superuser_client: Client) -> None:
    dataset = artifact_type("Dataset")
    make_artifact(dataset, "train")
    url, data, _page = _open(superuser_client, Artifact)
    data.update(type=dataset.pk, name="train")
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), "already exists")
    assert _snapshot(*STORE_TABLES) == before


def test_renaming_a_context_to_a_taken_name_is_a_form_error(superuser_client: Client) -> None:
    # The type is read-only on the change page, so Django alone would not check (type, name).
    experiment = context_type("Experiment")
    make_context(experiment, "taken")
    mine = make_context(experiment, "mine")
    url, data, _page = _open(superuser_client, Context, mine.pk)
    data["name"] = "taken"
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), "already exists")
    assert _snapshot(*STORE_TABLES) == before


def test_a_duplicate_external_id_is_a_form_error(superuser_client: Client) -> None:
    dataset = artifact_type("Dataset")
    make_artifact(dataset, "a", external_id="ext-1")
    other = make_artifact(dataset, "b")
    url, data, _page = _open(superuser_client, Artifact, other.pk)
    data["external_id"] = "ext-1"

    _refused(superuser_client.post(url, data), "already exists")
    assert Artifact.objects.get(pk=other.pk).external_id is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Dataset", "version": ""}, "already exists"),
        ({"name": "Dataset2", "external_id": "dataset-ext"}, "already exists"),
    ],
)
def test_adding_a_duplicate_type_is_a_form_error(
    superuser_client: Client, fields: dict[str, str], message: str
) -> None:
    artifact_type("Dataset", external_id="dataset-ext")
    url, data, _page = _open(superuser_client, ArtifactType)
    data.update(fields)
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), message)
    assert _snapshot(*STORE_TABLES) == before


def test_types_of_different_kinds_may_share_a_name_and_external_id(superuser_client: Client) -> None:
    artifact_type("Trainer", external_id="t")
    url, data, _page = _open(superuser_client, ExecutionType)
    data.update(name="Trainer", external_id="t")
    assert superuser_client.post(url, data).status_code == 302
    assert Type.objects.filter(name="Trainer").count() == 2
    assert ExecutionType.objects.get(name="Trainer").kind == TypeKind.EXECUTION


def test_a_second_version_of_a_type_is_allowed(superuser_client: Client) -> None:
    artifact_type("Dataset")
    url, data, _page = _open(superuser_client, ArtifactType)
    data.update(name="Dataset", version="2", base_type="1")
    assert superuser_client.post(url, data).status_code == 302
    added = ArtifactType.objects.get(name="Dataset", version="2")
    assert added.base_type == 1


def test_a_base_type_of_another_kind_is_refused(superuser_client: Client) -> None:
    url, data, _page = _open(superuser_client, ContextType)
    data.update(name="Run", base_type="1")  # DATASET: an artifact base type
    response = superuser_client.post(url, data)
    assert response.status_code == 200
    assert "Select a valid choice" in error_text(response)
    assert not Type.objects.filter(name="Run").exists()


# --- what staff may do -----------------------------------------------------------------------


def test_staff_edit_a_context_name_properties_parents_and_members(staff_client: Client) -> None:
    experiment = context_type("Experiment", properties={"owner": PropertyType.STRING})
    dataset = artifact_type("Dataset")
    project = make_context(experiment, "project")
    run = make_context(experiment, "run-1", last_update_time_since_epoch=1)
    train = make_artifact(dataset, "train")
    url, data, page = _open(staff_client, Context, run.pk)
    data["name"] = "run-1 (rerun)"
    add_inline_row(data, inline_prefix(page, ContextProperty), name="owner", string_value="ana")
    add_inline_row(data, inline_prefix(page, ParentContext), parent=project.pk)
    add_inline_row(data, inline_prefix(page, Attribution), artifact=train.pk)

    response = staff_client.post(url, data)

    assert response.status_code == 302, error_text(response)
    run.refresh_from_db()
    assert run.name == "run-1 (rerun)"
    assert run.last_update_time_since_epoch > 1
    values = {(p.name, p.is_custom): p.value for p in run.property_values.all()}
    assert values == {("owner", False): "ana"}
    assert list(ParentContext.objects.filter(context=run).values_list("parent_id", flat=True)) == [project.pk]
    assert list(Attribution.objects.filter(context=run).values_list("artifact_id", flat=True)) == [train.pk]


def test_an_empty_custom_value_is_refused_not_stored_as_empty(staff_client: Client) -> None:
    run = make_context(context_type("Experiment"), "run-1")
    url, data, page = _open(staff_client, Context, run.pk)
    add_inline_row(data, inline_prefix(page, ContextProperty), name="notes", is_custom=True, string_value="")
    _refused(staff_client.post(url, data), "Property 'notes' has no value")


def test_staff_edit_a_type_description_and_add_a_declared_property(staff_client: Client) -> None:
    dataset = artifact_type("Dataset", properties={"split": PropertyType.STRING})
    make_artifact(dataset, "train", properties={"split": "train"})
    url, data, page = _open(staff_client, ArtifactType, dataset.pk)
    data["description"] = "Examples for training and evaluation."
    add_inline_row(data, inline_prefix(page, TypeProperty), name="rows", data_type=PropertyType.INT)

    response = staff_client.post(url, data)

    assert response.status_code == 302, error_text(response)
    dataset.refresh_from_db()
    assert dataset.description == "Examples for training and evaluation."
    assert dict(dataset.properties.values_list("name", "data_type")) == {
        "split": PropertyType.STRING,
        "rows": PropertyType.INT,
    }


def test_the_type_name_and_version_are_read_only_once_created(staff_client: Client) -> None:
    dataset = artifact_type("Dataset")
    url, data, _page = _open(staff_client, ArtifactType, dataset.pk)
    assert "name" not in data and "version" not in data
    data["name"] = "Renamed"
    assert staff_client.post(url, data).status_code == 302
    assert Type.objects.get(pk=dataset.pk).name == "Dataset"


def test_staff_add_an_artifact_with_properties(staff_client: Client) -> None:
    dataset = artifact_type("Dataset", properties={"split": PropertyType.STRING})
    context_type("Experiment")  # a type of another kind, not offered
    url, data, page = _open(staff_client, Artifact)
    offered = {choice.value for choice, _label in page.context["adminform"].form.fields["type"].choices if choice}
    assert offered == {dataset.pk}
    data.update(type=dataset.pk, name="train", uri="")
    add_inline_row(data, inline_prefix(page, ArtifactProperty), name="split", string_value="train")

    response = staff_client.post(url, data)

    assert response.status_code == 302, error_text(response)
    artifact = Artifact.objects.get(type=dataset, name="train")
    assert artifact.uri is None  # blank means unset, as in MLMD
    assert artifact.create_time_since_epoch > 0
    assert artifact.property_values.get().string_value == "train"


def test_declaring_a_property_that_instances_hold_as_custom_is_refused(superuser_client: Client) -> None:
    dataset = artifact_type("Dataset")
    make_artifact(dataset, "train", custom_properties={"rows": 10})
    url, data, page = _open(superuser_client, ArtifactType, dataset.pk)
    add_inline_row(data, inline_prefix(page, TypeProperty), name="rows", data_type=PropertyType.INT)
    before = _snapshot(*STORE_TABLES)

    _refused(superuser_client.post(url, data), "Cannot declare property 'rows'")
    assert _snapshot(*STORE_TABLES) == before
