"""The issue's "Bad input" list: each case is a 4xx JSON naming the field, and nothing is half-written."""
from __future__ import annotations

from typing import Any

import pytest

from store.models import Artifact, Context, Event, Execution, Type
from tests.api.helpers import assert_error, post


@pytest.fixture
def counts(dataset_types: Any) -> Any:
    def snapshot() -> tuple[int, ...]:
        return tuple(m.objects.count() for m in (Type, Artifact, Execution, Context, Event))

    return snapshot


def test_unknown_type(writer: Any, counts: Any) -> None:
    before = counts()
    assert_error(post(writer, "/api/v1/artifacts", {"type": "NoSuchType"}), 400, "type", contains="NoSuchType")
    assert_error(post(writer, "/api/v1/artifacts", {"type_id": 987654}), 400, "type_id")
    assert_error(post(writer, "/api/v1/artifacts", [{"type": "DataSet"}, {"type": "Nope"}]), 400, "[1].type")
    assert_error(post(writer, "/api/v1/artifacts", {"uri": "s3://no-type"}), 400, "type")
    assert counts() == before


def test_property_of_the_wrong_type(writer: Any, counts: Any) -> None:
    before = counts()
    body = assert_error(post(writer, "/api/v1/artifacts", {"type": "DataSet", "properties": {"day": "monday"}}), 400, "properties.day")
    assert "INT" in body["detail"] and "STRING" in body["detail"]
    assert_error(post(writer, "/api/v1/executions", {"type": "Trainer", "properties": {"steps": 1.5}}), 400, "properties.steps")
    assert_error(post(writer, "/api/v1/executions", {"type": "Trainer", "properties": {"steps": True}}), 400, "properties.steps")
    assert_error(post(writer, "/api/v1/executions", {"type": "Trainer", "properties": {"steps": 2**64}}), 400, "properties.steps")
    assert counts() == before


def test_unknown_property_on_a_type_that_does_not_declare_it(writer: Any, counts: Any) -> None:
    before = counts()
    body = assert_error(post(writer, "/api/v1/contexts", {"type": "Experiment", "name": "e", "properties": {"colour": "red"}}),
                        400, "properties.colour")
    assert "unknown property" in body["detail"].lower()
    # A custom property may be anything: that is what custom properties are for.
    assert post(writer, "/api/v1/contexts", {"type": "Experiment", "name": "e", "custom_properties": {"colour": "red"}}).status_code == 201
    assert counts()[3] == before[3] + 1


def test_duplicate_name_in_a_type_is_409(writer: Any, counts: Any) -> None:
    assert post(writer, "/api/v1/artifacts", {"type": "DataSet", "name": "day1"}).status_code == 201
    before = counts()
    assert_error(post(writer, "/api/v1/artifacts", {"type": "DataSet", "name": "day1"}), 409, "name")
    assert_error(post(writer, "/api/v1/artifacts", [{"type": "DataSet", "name": "fresh"}, {"type": "DataSet", "name": "day1"}]), 409)
    assert post(writer, "/api/v1/contexts", {"type": "Experiment", "name": "exp"}).status_code == 201
    assert_error(post(writer, "/api/v1/contexts", {"type": "Experiment", "name": "exp"}), 409, "name")
    assert counts()[:3] == before[:3]


def test_missing_artifact_in_an_event(writer: Any, counts: Any) -> None:
    execution = post(writer, "/api/v1/executions", {"type": "Trainer"}).json()
    before = counts()
    assert_error(post(writer, "/api/v1/events", {"artifact_id": 424242, "execution_id": execution["id"], "type": "INPUT"}),
                 400, "artifact_id")
    assert_error(post(writer, "/api/v1/events", {"artifact_id": 1, "execution_id": 424242, "type": "INPUT"}), 400)
    assert counts() == before


def test_oversize_body(writer: Any, counts: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    before = counts()
    response = post(writer, "/api/v1/artifacts", {"type": "DataSet", "custom_properties": {"x": "y" * 4096}})
    assert_error(response, 413)
    assert counts() == before


def test_bad_filter_syntax_names_the_position(writer: Any, counts: Any) -> None:
    body = assert_error(writer.get("/api/v1/artifacts", {"filter": "uri = = 'x'"}), 400, "filter", contains="position")
    assert body["position"] == 6
    assert_error(writer.get("/api/v1/executions", {"filter": "nosuchattribute = 1"}), 400, "filter")


def test_bad_page_cursor(writer: Any, counts: Any) -> None:
    for url in ("/api/v1/artifacts", "/api/v1/executions", "/api/v1/contexts", "/api/v1/artifact-types",
                "/api/v1/events", "/api/v1/attributions", "/api/v1/associations", "/api/v1/parent-contexts"):
        assert_error(writer.get(url, {"cursor": "not-a-cursor"}), 400, "cursor")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "DataSet", "colour": "red"}, "colour"),
        ({"type": "DataSet", "name": 7}, "name"),
        ({"type": "DataSet", "state": "ALIVE"}, "state"),
        ({"type": "DataSet", "properties": [1, 2]}, "properties"),
        ({"type": "DataSet", "name": "x" * 300}, "name"),
        ({"type": 5}, "type"),
        ("just a string", None),
    ],
)
def test_malformed_bodies_name_the_field(writer: Any, counts: Any, body: Any, field: str | None) -> None:
    before = counts()
    assert_error(post(writer, "/api/v1/artifacts", body), 400, field)
    assert counts() == before


def test_malformed_json_and_wrong_media_type(writer: Any, counts: Any) -> None:
    assert_error(writer.post("/api/v1/artifacts", "{not json", content_type="application/json"), 400, "body")
    assert_error(writer.post("/api/v1/artifacts", "type=DataSet", content_type="application/x-www-form-urlencoded"), 415)


def test_record_bad_inputs(writer: Any, counts: Any) -> None:
    before = counts()
    no_execution = post(writer, "/api/v1/executions/record", {"inputs": []})
    assert_error(no_execution, 400, "execution")
    both = post(writer, "/api/v1/executions/record", {"execution": {"type": "Trainer"}, "inputs": [{"id": 1, "uri": "s3://x"}]})
    assert_error(both, 400, "inputs[0].id")
    bad_event_type = post(writer, "/api/v1/executions/record",
                          {"execution": {"type": "Trainer"}, "outputs": [{"type": "Model", "event_type": "INPUT"}]})
    assert_error(bad_event_type, 400, "outputs[0].event_type")
    assert counts() == before


@pytest.mark.parametrize("url", ["/api/v1/artifacts/abc", "/api/v1/artifacts/0", "/api/v1/artifacts/99999999999999999999999",
                                 "/api/v1/artifacts/424242", "/api/v1/contexts/-1/graph"])
def test_unknown_ids_are_404_json(writer: Any, url: str) -> None:
    assert_error(writer.get(url), 404)


def test_bodies_no_database_could_store(writer: Any, counts: Any) -> None:
    before = counts()
    deep = "[" * 100_000 + "]" * 100_000
    assert_error(writer.post("/api/v1/artifacts", deep, content_type="application/json"), 400, "body")
    surrogate = '{"type": "DataSet", "name": "\\ud800"}'
    assert_error(writer.post("/api/v1/artifacts", surrogate, content_type="application/json"), 400, "body", "surrogate")
    long_name = {"type": "DataSet", "custom_properties": {"p" * 300: 1}}
    assert_error(post(writer, "/api/v1/artifacts", long_name), 400, "custom_properties")
    assert counts() == before


def test_record_with_an_unknown_context_id(writer: Any, counts: Any) -> None:
    before = counts()
    body = {"execution": {"type": "Trainer"}, "contexts": [{"type": "Experiment", "name": "e"}, {"id": 4242}]}
    assert_error(post(writer, "/api/v1/executions/record", body), 400, "contexts[1].id")
    assert counts() == before
