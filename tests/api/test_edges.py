"""events, attributions, associations, parent-contexts."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error, post


@pytest.fixture
def nodes(writer: Any, dataset_types: Any) -> dict[str, int]:
    artifact = post(writer, "/api/v1/artifacts", {"type": "DataSet", "uri": "s3://d/1"}).json()
    model = post(writer, "/api/v1/artifacts", {"type": "Model", "uri": "s3://m/1"}).json()
    execution = post(writer, "/api/v1/executions", {"type": "Trainer"}).json()
    experiment = post(writer, "/api/v1/contexts", {"type": "Experiment", "name": "exp"}).json()
    run = post(writer, "/api/v1/contexts", {"type": "PipelineRun", "name": "run-1"}).json()
    return {"artifact": artifact["id"], "model": model["id"], "execution": execution["id"],
            "experiment": experiment["id"], "run": run["id"]}


def test_events_create_retrieve_list(writer: Any, nodes: dict[str, int]) -> None:
    response = post(
        writer,
        "/api/v1/events",
        [
            {"artifact_id": nodes["artifact"], "execution_id": nodes["execution"], "type": "INPUT",
             "path": [{"key": "examples"}, {"index": 0}]},
            {"artifact_id": nodes["model"], "execution_id": nodes["execution"], "type": "OUTPUT",
             "milliseconds_since_epoch": 1700000000000},
        ],
    )
    assert response.status_code == 201, response.json()
    first, second = response.json()
    assert first["type"] == "INPUT" and first["path"] == [{"key": "examples"}, {"index": 0}]
    assert second["time"] == "2023-11-14T22:13:20.000Z"
    assert writer.get(f"/api/v1/events/{first['id']}").json() == first
    assert writer.get(f"/api/v1/events?execution_id={nodes['execution']}&type=OUTPUT").json()["results"] == [second]
    assert writer.get(f"/api/v1/events?artifact_id={nodes['artifact']}").json()["results"] == [first]


def test_event_to_a_missing_artifact_names_the_field(writer: Any, nodes: dict[str, int]) -> None:
    response = post(writer, "/api/v1/events", {"artifact_id": 999, "execution_id": nodes["execution"], "type": "INPUT"})
    assert_error(response, 400, "artifact_id", contains="999")


def test_duplicate_event_conflicts(writer: Any, nodes: dict[str, int]) -> None:
    event = {"artifact_id": nodes["artifact"], "execution_id": nodes["execution"], "type": "INPUT"}
    assert post(writer, "/api/v1/events", event).status_code == 201
    assert_error(post(writer, "/api/v1/events", event), 409)


def test_attributions_and_associations(writer: Any, nodes: dict[str, int]) -> None:
    attribution = post(writer, "/api/v1/attributions", {"context_id": nodes["run"], "artifact_id": nodes["artifact"]})
    assert attribution.status_code == 201
    body = attribution.json()
    assert body == {"id": body["id"], "context_id": nodes["run"], "artifact_id": nodes["artifact"]}
    association = post(writer, "/api/v1/associations", {"context_id": nodes["run"], "execution_id": nodes["execution"]})
    assert association.status_code == 201
    assert writer.get(f"/api/v1/attributions?context_id={nodes['run']}").json()["results"] == [body]
    assert writer.get(f"/api/v1/associations/{association.json()['id']}").json() == association.json()
    # Listing nodes by context uses the same memberships.
    assert [a["id"] for a in writer.get(f"/api/v1/artifacts?context={nodes['run']}").json()["results"]] == [nodes["artifact"]]
    assert [e["id"] for e in writer.get(f"/api/v1/executions?context={nodes['run']}").json()["results"]] == [nodes["execution"]]
    missing = post(writer, "/api/v1/attributions", {"context_id": 999, "artifact_id": nodes["artifact"]})
    assert_error(missing, 400, "context_id")


def test_parent_contexts_by_id_or_by_type_and_name(writer: Any, nodes: dict[str, int]) -> None:
    by_name = post(
        writer,
        "/api/v1/parent-contexts",
        {"child": {"type": "PipelineRun", "name": "run-1"}, "parent": {"type": "Experiment", "name": "exp"}},
    )
    assert by_name.status_code == 201
    assert (by_name.json()["child_id"], by_name.json()["parent_id"]) == (nodes["run"], nodes["experiment"])
    again = post(writer, "/api/v1/parent-contexts", {"child_id": nodes["run"], "parent_id": nodes["experiment"]})
    assert_error(again, 409, "parent_id")
    cycle = post(writer, "/api/v1/parent-contexts", {"child_id": nodes["experiment"], "parent_id": nodes["run"]})
    assert_error(cycle, 400, "parent_id")
    unknown = post(writer, "/api/v1/parent-contexts", {"child_id": nodes["run"], "parent": {"type": "Experiment", "name": "nope"}})
    assert_error(unknown, 400, "parent.name")
    assert [c["id"] for c in writer.get(f"/api/v1/contexts?parent={nodes['experiment']}").json()["results"]] == [nodes["run"]]
    assert writer.get(f"/api/v1/parent-contexts?child_id={nodes['run']}").json()["results"] == [by_name.json()]


@pytest.mark.parametrize("url", ["/api/v1/events", "/api/v1/attributions", "/api/v1/associations", "/api/v1/parent-contexts"])
def test_edges_are_immutable(writer: Any, url: str) -> None:
    assert_error(writer.patch(f"{url}/1", {}, format="json"), 405)
    assert_error(writer.delete(f"{url}/1"), 405)
