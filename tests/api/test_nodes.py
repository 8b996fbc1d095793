"""artifacts, executions, contexts: create (one and bulk), retrieve, list, partial update, delete."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from store.models import Artifact
from tests.api.helpers import assert_error, patch, post


@dataclass(frozen=True)
class Resource:
    """What a node resource's tests need: its URL and a valid body."""

    url: str
    body: dict[str, Any]
    second: dict[str, Any]


RESOURCES = {
    "artifacts": Resource(
        "/api/v1/artifacts",
        {
            "type": "DataSet", "uri": "s3://bucket/day1", "name": "day1", "state": "LIVE",
            "properties": {"day": 1, "split": "train"}, "custom_properties": {"owner": "ana"},
        },
        {"type": "DataSet", "uri": "s3://bucket/day2", "name": "day2", "properties": {"day": 2}},
    ),
    "executions": Resource(
        "/api/v1/executions",
        {"type": "Trainer", "name": "train-1", "state": "RUNNING", "properties": {"lr": 0.1, "steps": 10},
         "custom_properties": {"owner": "ana"}},
        {"type": "Trainer", "name": "train-2", "properties": {"lr": 1}},
    ),
    "contexts": Resource(
        "/api/v1/contexts",
        {"type": "Experiment", "name": "exp-7", "properties": {"owner": "ana"}, "custom_properties": {"owner": "ana"}},
        {"type": "Experiment", "name": "exp-8"},
    ),
}


@pytest.fixture(params=sorted(RESOURCES))
def resource(request: pytest.FixtureRequest, dataset_types: Any) -> Resource:
    return RESOURCES[request.param]


def test_create_answers_the_node_with_id_type_and_times(writer: Any, resource: Resource) -> None:
    response = post(writer, resource.url, resource.body)
    assert response.status_code == 201, response.json()
    node = response.json()
    for key, value in resource.body.items():
        assert node[key] == value, key
    assert isinstance(node["id"], int) and isinstance(node["type_id"], int)
    assert node["create_time_since_epoch"] > 0
    assert node["create_time"].endswith("Z") and "T" in node["create_time"]
    assert node["last_update_time"] == node["create_time"]
    assert writer.get(f"{resource.url}/{node['id']}").json() == node


def test_declared_double_accepts_a_json_integer(writer: Any, dataset_types: Any) -> None:
    node = post(writer, "/api/v1/executions", {"type": "Trainer", "properties": {"lr": 1}}).json()
    assert node["properties"] == {"lr": 1.0}


def test_bulk_create_in_one_request(writer: Any, resource: Resource) -> None:
    response = post(writer, resource.url, [resource.body, resource.second])
    assert response.status_code == 201
    assert [n["name"] for n in response.json()] == [resource.body["name"], resource.second["name"]]
    listed = writer.get(resource.url).json()["results"]
    assert [n["id"] for n in listed] == [n["id"] for n in response.json()]


def test_bulk_create_is_all_or_nothing(writer: Any, resource: Resource) -> None:
    bad = {**resource.second, "properties": {"undeclared": 1}}
    response = post(writer, resource.url, [resource.body, bad])
    assert_error(response, 400, "[1].properties.undeclared")
    assert writer.get(resource.url).json()["results"] == []


def test_patch_changes_only_the_given_fields(writer: Any, resource: Resource) -> None:
    node = post(writer, resource.url, resource.body).json()
    response = patch(writer, f"{resource.url}/{node['id']}", {"custom_properties": {"reviewed": True}})
    assert response.status_code == 200
    updated = response.json()
    assert updated["custom_properties"] == {"owner": "ana", "reviewed": True}
    assert updated["properties"] == node["properties"]
    assert updated["name"] == node["name"]
    assert updated["last_update_time_since_epoch"] >= node["last_update_time_since_epoch"]


def test_patch_null_removes_a_property(writer: Any, resource: Resource) -> None:
    node = post(writer, resource.url, resource.body).json()
    response = patch(writer, f"{resource.url}/{node['id']}", {"custom_properties": {"owner": None}})
    assert response.json()["custom_properties"] == {}


def test_empty_patch_changes_nothing(writer: Any, resource: Resource) -> None:
    node = post(writer, resource.url, resource.body).json()
    response = patch(writer, f"{resource.url}/{node['id']}", {})
    assert response.status_code == 200
    assert response.json() == node


def test_patch_execution_state_later(writer: Any, dataset_types: Any) -> None:
    node = post(writer, "/api/v1/executions", {"type": "Trainer", "state": "RUNNING", "properties": {"lr": 0.5}}).json()
    done = patch(writer, f"/api/v1/executions/{node['id']}", {"state": "COMPLETE"}).json()
    assert (done["state"], done["properties"]) == ("COMPLETE", {"lr": 0.5})
    failed = patch(writer, f"/api/v1/executions/{node['id']}", {"state": "FAILED"}).json()
    assert failed["state"] == "FAILED"


def test_patch_artifact_with_a_stale_update_time_conflicts(writer: Any, dataset_types: Any) -> None:
    node = post(writer, "/api/v1/artifacts", RESOURCES["artifacts"].body).json()
    url = f"/api/v1/artifacts/{node['id']}"
    ok = patch(writer, url, {"uri": "s3://moved", "last_update_time_since_epoch": node["last_update_time_since_epoch"]})
    assert ok.status_code == 200
    Artifact.objects.filter(id=node["id"]).update(last_update_time_since_epoch=node["last_update_time_since_epoch"] + 5)
    stale = patch(writer, url, {"uri": "s3://again", "last_update_time_since_epoch": node["last_update_time_since_epoch"]})
    assert_error(stale, 409, "last_update_time_since_epoch")
    assert writer.get(url).json()["uri"] == "s3://moved"


def test_delete_marks_an_artifact_deleted(writer: Any, dataset_types: Any) -> None:
    node = post(writer, "/api/v1/artifacts", RESOURCES["artifacts"].body).json()
    response = writer.delete(f"/api/v1/artifacts/{node['id']}")
    assert response.status_code == 200
    assert response.json()["state"] == "DELETED"
    assert Artifact.objects.filter(id=node["id"]).exists()  # MLMD's DELETED is a state, not a removal
    assert writer.get("/api/v1/artifacts?state=DELETED").json()["results"][0]["id"] == node["id"]


@pytest.mark.parametrize("url", ["/api/v1/executions", "/api/v1/contexts"])
def test_executions_and_contexts_are_not_deleted(writer: Any, dataset_types: Any, url: str) -> None:
    body = RESOURCES[url.rsplit("/", 1)[1]].body
    node = post(writer, url, body).json()
    assert_error(writer.delete(f"{url}/{node['id']}"), 405)


def test_node_by_type_id_and_type_version(writer: Any, dataset_types: Any) -> None:
    v2 = post(writer, "/api/v1/artifact-types", {"name": "DataSet", "version": "2", "properties": {"rows": "INT"}}).json()
    by_version = post(writer, "/api/v1/artifacts", {"type": "DataSet", "type_version": "2", "properties": {"rows": 5}})
    assert by_version.json()["type_id"] == v2["id"]
    by_id = post(writer, "/api/v1/artifacts", {"type_id": v2["id"], "properties": {"rows": 6}})
    assert by_id.json()["type"] == "DataSet"


def test_struct_and_proto_values(writer: Any, dataset_types: Any) -> None:
    post(writer, "/api/v1/artifact-types", {"name": "Blob", "properties": {"meta": "STRUCT", "any": "PROTO"}})
    body = {
        "type": "Blob",
        "properties": {"meta": {"a": [1, 2], "b": {"c": "d"}}, "any": {"type_url": "type.googleapis.com/x.Y", "value": "0a01"}},
        "custom_properties": {"tags": ["x", "y"]},
    }
    node = post(writer, "/api/v1/artifacts", body).json()
    assert node["properties"]["meta"] == {"a": [1, 2], "b": {"c": "d"}}
    assert node["properties"]["any"] == {"type_url": "type.googleapis.com/x.Y", "value": "0a01"}
    assert node["custom_properties"]["tags"] == ["x", "y"]
