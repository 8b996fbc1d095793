"""Every admin page opens, for the right people, in a bounded number of queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from store.choices import EventType, PropertyType, TypeKind
from store.models import (
    Artifact,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextType,
    Event,
    Execution,
    ExecutionType,
    ParentContext,
    ParentType,
    Type,
)
from tests.base import (
    artifact_type,
    context_type,
    execution_type,
    make_artifact,
    make_context,
    make_execution,
)

pytestmark = pytest.mark.django_db


def populate(suffix: str = "") -> dict[str, Any]:
    """One row of every model, with properties and every kind of edge."""
    dataset = artifact_type(f"Dataset{suffix}", properties={"split": PropertyType.STRING})
    derived = artifact_type(f"Derived{suffix}")
    ParentType.objects.create(type=derived, parent=dataset)
    trainer = execution_type(f"Trainer{suffix}", properties={"steps": PropertyType.INT})
    experiment = context_type(f"Experiment{suffix}", properties={"owner": PropertyType.STRING})
    artifact = make_artifact(
        dataset,
        f"train{suffix}",
        uri=f"/data/train{suffix}",
        state=2,
        properties={"split": "train"},
        custom_properties={"rows": 10},
        create_time_since_epoch=1_700_000_000_000,
        last_update_time_since_epoch=1_700_000_000_000,
    )
    execution = make_execution(trainer, f"run{suffix}", last_known_state=3, properties={"steps": 100})
    parent = make_context(experiment, f"project{suffix}")
    context = make_context(experiment, f"exp{suffix}", properties={"owner": "ana"}, custom_properties={"note": "x"})
    Event.objects.create(artifact=artifact, execution=execution, type=EventType.INPUT, path=[{"key": "examples"}])
    Attribution.objects.create(context=context, artifact=artifact)
    Association.objects.create(context=context, execution=execution)
    ParentContext.objects.create(context=context, parent=parent)
    return {
        ArtifactType: ArtifactType.objects.get(pk=dataset.pk),
        ExecutionType: ExecutionType.objects.get(pk=trainer.pk),
        ContextType: ContextType.objects.get(pk=experiment.pk),
        Artifact: artifact,
        Execution: execution,
        Context: context,
        Event: Event.objects.get(artifact=artifact),
        Attribution: Attribution.objects.get(context=context),
        Association: Association.objects.get(context=context),
        ParentContext: ParentContext.objects.get(context=context),
    }


def _url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


STORE_MODELS = [model for model in admin.site._registry if model._meta.app_label == "store"]
# The drawing-job pages are read-only and covered by tests/graphs/test_operations.py.
GRAPH_MODELS = {"GraphJob", "GraphDrawing"}
PAGE_MODELS = [model for model in admin.site._registry if model.__name__ not in GRAPH_MODELS]
POPULATED_MODELS = [model for model in STORE_MODELS if model.__name__ not in GRAPH_MODELS]


def test_every_store_model_is_registered() -> None:
    names = {model.__name__ for model in STORE_MODELS}
    assert names == {
        "ArtifactType",
        "ExecutionType",
        "ContextType",
        "Artifact",
        "Execution",
        "Context",
        "Event",
        "Attribution",
        "Association",
        "ParentContext",
        "GraphJob",
        "GraphDrawing",
    }


@pytest.mark.parametrize("model", PAGE_MODELS, ids=lambda m: m.__name__)
def test_every_admin_page_answers_200_for_the_superuser(superuser_client: Client, model: type) -> None:
    rows = populate()
    Group.objects.create(name="editors")
    assert superuser_client.get(_url(model, "changelist")).status_code == 200
    assert superuser_client.get(_url(model, "add")).status_code == 200
    obj = rows.get(model) or model._default_manager.first()
    if obj is None:
        assert model._meta.app_label != "store"
        return  # another app's model with no rows here (e.g. API tokens)
    assert superuser_client.get(_url(model, "change", obj.pk)).status_code == 200
    if model in (ArtifactType, ExecutionType, ContextType):
        # A type with instances: the delete view refuses (redirect) rather than answering 500.
        assert superuser_client.get(_url(model, "delete", obj.pk)).status_code == 302
    else:
        assert superuser_client.get(_url(model, "delete", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", POPULATED_MODELS, ids=lambda m: m.__name__)
def test_search_and_filters_answer_200(superuser_client: Client, model: type) -> None:
    rows = populate()
    for query in ("q=train", f"q={rows[model].pk}", "q=%22quoted+term%22", "q=99999999999999999999999"):
        response = superuser_client.get(f"{_url(model, 'changelist')}?{query}")
        assert response.status_code == 200, query


def test_numeric_search_finds_a_node_by_id(superuser_client: Client) -> None:
    populate()
    target = make_artifact(Type.objects.get(name="Derived"), "other")
    response = superuser_client.get(f"{_url(Artifact, 'changelist')}?q={target.pk}")
    assert list(response.context["cl"].result_list) == [target]


def test_type_filter_of_a_node_list_offers_only_types_of_that_kind(superuser_client: Client) -> None:
    populate()
    response = superuser_client.get(_url(Artifact, "changelist"))
    type_filter = next(spec for spec in response.context["cl"].filter_specs if spec.title == "type")
    offered = {name for _pk, name in type_filter.lookup_choices}
    assert offered == {"Dataset", "Derived"}
    assert set(Type.objects.filter(name__in=offered).values_list("kind", flat=True)) == {TypeKind.ARTIFACT}


def test_type_list_shows_counts_and_base_type_labels(superuser_client: Client) -> None:
    rows = populate()
    dataset = rows[ArtifactType]
    Type.objects.filter(pk=dataset.pk).update(base_type=1)
    response = superuser_client.get(_url(ArtifactType, "changelist"))
    result = {row.name: row for row in response.context["cl"].result_list}
    assert result["Dataset"].instance_count == 1
    assert result["Dataset"].property_count == 1
    assert result["Derived"].instance_count == 0
    assert "DATASET" in response.content.decode()
    # Only artifact types are listed.
    assert set(result) == {"Dataset", "Derived"}


@pytest.mark.parametrize("model", POPULATED_MODELS, ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(superuser_client: Client, model: type) -> None:
    populate("1")
    url = _url(model, "changelist")
    superuser_client.get(url)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as few:
        assert superuser_client.get(url).status_code == 200
    for i in range(2, 7):
        populate(str(i))
    with CaptureQueriesContext(connection) as many:
        assert superuser_client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_context_page_queries_do_not_grow_with_members(superuser_client: Client) -> None:
    rows = populate()
    context = rows[Context]
    url = _url(Context, "change", context.pk)
    superuser_client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert superuser_client.get(url).status_code == 200
    artifact = rows[Artifact]
    execution = rows[Execution]
    for i in range(5):
        member = make_artifact(artifact.type, f"member{i}")
        Attribution.objects.create(context=context, artifact=member)
        run = make_execution(execution.type, f"member-run{i}")
        Association.objects.create(context=context, execution=run)
        parent = make_context(context.type, f"parent{i}")
        ParentContext.objects.create(context=context, parent=parent)
    with CaptureQueriesContext(connection) as many:
        assert superuser_client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_staff_can_open_store_pages(staff_client: Client) -> None:
    rows = populate()
    for model in POPULATED_MODELS:
        assert staff_client.get(_url(model, "changelist")).status_code == 200
        assert staff_client.get(_url(model, "change", rows[model].pk)).status_code == 200


def test_staff_cannot_manage_users(staff_client: Client) -> None:
    assert staff_client.get(_url(User, "changelist")).status_code == 403


def test_reader_and_anonymous_are_sent_to_the_login_page(reader_client: Client, client: Client) -> None:
    for who in (reader_client, client):
        response = who.get(reverse("admin:index"))
        assert response.status_code == 302
        assert "/login/" in response["Location"]


@pytest.mark.parametrize("model", [ArtifactType, ExecutionType, ContextType], ids=lambda m: m.__name__)
def test_type_lists_link_to_the_import_and_export_pages(superuser_client: Client, model: type) -> None:
    page = superuser_client.get(_url(model, "changelist")).content.decode()
    for view in ("import_types", "export_types"):
        assert _url(model, view) in page
        assert superuser_client.get(_url(model, view)).status_code == 200
