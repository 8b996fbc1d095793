"""artifact-types, execution-types, context-types."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error, patch, post

KINDS = ["artifact-types", "execution-types", "context-types"]


def test_create_answers_the_issue_shape(writer: Any) -> None:
    response = post(
        writer,
        "/api/v1/artifact-types",
        {"name": "DataSet", "version": "", "base_type": "DATASET", "properties": {"day": "INT", "split": "STRING"}},
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "DataSet",
        "version": "",
        "description": None,
        "external_id": None,
        "base_type": "DATASET",
        "properties": {"day": "INT", "split": "STRING"},
    }
    assert writer.get(f"/api/v1/artifact-types/{body['id']}").json() == body


@pytest.mark.parametrize("kind", KINDS)
def test_list_retrieve_and_bulk_create(writer: Any, kind: str) -> None:
    response = post(writer, f"/api/v1/{kind}", [{"name": "A", "properties": {"x": "INT"}}, {"name": "B", "version": "2"}])
    assert response.status_code == 201
    created = response.json()
    assert [t["name"] for t in created] == ["A", "B"]
    assert created[1]["version"] == "2"
    listed = writer.get(f"/api/v1/{kind}").json()
    assert [t["name"] for t in listed["results"]] == ["A", "B"]
    assert listed["next_cursor"] is None
    assert writer.get(f"/api/v1/{kind}?name=B").json()["results"] == [created[1]]
    assert writer.get(f"/api/v1/{kind}/{created[0]['id']}").json() == created[0]


def test_reregistering_the_same_type_answers_it_and_a_different_one_conflicts(writer: Any) -> None:
    first = post(writer, "/api/v1/execution-types", {"name": "Trainer", "properties": {"lr": "DOUBLE"}})
    again = post(writer, "/api/v1/execution-types", {"name": "Trainer", "properties": {"lr": "DOUBLE"}})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    conflict = post(writer, "/api/v1/execution-types", {"name": "Trainer", "properties": {"lr": "INT"}})
    assert_error(conflict, 409, "properties", contains="lr")


def test_patch_adds_properties_and_refuses_a_changed_data_type(writer: Any) -> None:
    created = post(writer, "/api/v1/context-types", {"name": "Experiment", "properties": {"owner": "STRING"}}).json()
    response = patch(writer, f"/api/v1/context-types/{created['id']}", {"properties": {"note": "STRING"}})
    assert response.status_code == 200
    assert response.json()["properties"] == {"note": "STRING", "owner": "STRING"}
    clash = patch(writer, f"/api/v1/context-types/{created['id']}", {"properties": {"owner": "INT"}})
    assert_error(clash, 409, "properties")
    assert writer.get(f"/api/v1/context-types/{created['id']}").json()["properties"] == {"note": "STRING", "owner": "STRING"}


def test_a_type_of_another_kind_is_not_found_here(writer: Any) -> None:
    created = post(writer, "/api/v1/artifact-types", {"name": "DataSet"}).json()
    assert_error(writer.get(f"/api/v1/execution-types/{created['id']}"), 404, "id")
    assert_error(writer.get("/api/v1/execution-types/abc"), 404, "id")


def test_bulk_create_is_all_or_nothing(writer: Any) -> None:
    response = post(writer, "/api/v1/artifact-types", [{"name": "Ok"}, {"name": "Bad", "properties": {"x": "NOPE"}}])
    assert_error(response, 400, "[1].properties.x")
    assert writer.get("/api/v1/artifact-types").json()["results"] == []


def test_types_have_no_delete(writer: Any) -> None:
    created = post(writer, "/api/v1/artifact-types", {"name": "DataSet"}).json()
    assert_error(writer.delete(f"/api/v1/artifact-types/{created['id']}"), 405)
