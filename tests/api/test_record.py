"""POST /api/v1/executions/record: a run in one request, atomic, idempotent with Idempotency-Key."""
from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from store.models import Artifact, Context, Event, Execution, IdempotencyKey
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api as core
from store.services import idempotency
from tests.api.helpers import assert_error, patch, post

RECORD = "/api/v1/executions/record"


@pytest.fixture
def dataset(writer: Any, dataset_types: Any) -> dict[str, Any]:
    return post(writer, "/api/v1/artifacts", {"type": "DataSet", "uri": "s3://bucket/day1", "properties": {"day": 1}}).json()


def trainer_run(dataset_id: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "execution": {"type": "Trainer", "properties": {"lr": 0.1}, "state": "COMPLETE"},
        "inputs": [{"id": dataset_id}],
        "outputs": [{"type": "Model", "uri": "s3://m/1", "properties": {"version": 1}}],
        "contexts": [{"type": "Experiment", "name": "exp-7"}],
    }
    body.update(overrides)
    return body


def test_record_writes_execution_events_outputs_and_contexts(writer: Any, dataset: dict[str, Any]) -> None:
    response = post(writer, RECORD, trainer_run(dataset["id"]))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["execution"]["type"] == "Trainer" and body["execution"]["state"] == "COMPLETE"
    assert body["execution"]["properties"] == {"lr": 0.1}
    assert [a["id"] for a in body["inputs"]] == [dataset["id"]]
    [model] = body["outputs"]
    assert (model["type"], model["uri"], model["state"], model["properties"]) == ("Model", "s3://m/1", "LIVE", {"version": 1})
    [context] = body["contexts"]
    assert (context["type"], context["name"]) == ("Experiment", "exp-7")
    events = set(Event.objects.values_list("artifact_id", "execution_id", "type"))
    assert events == {(dataset["id"], body["execution"]["id"], 3), (model["id"], body["execution"]["id"], 4)}
    context_id = context["id"]
    assert writer.get(f"/api/v1/artifacts?context={context_id}").json()["results"][0]["id"] in {dataset["id"], model["id"]}


def test_record_reuses_an_existing_context_and_takes_inputs_by_uri(writer: Any, dataset: dict[str, Any]) -> None:
    first = post(writer, RECORD, trainer_run(dataset["id"])).json()
    second = post(
        writer,
        RECORD,
        trainer_run(0, inputs=[{"uri": "s3://m/1", "path": [{"key": "model"}]}],
                    outputs=[{"type": "Model", "uri": "s3://m/2", "path": [{"key": "model"}, {"index": 0}]}]),
    )
    assert second.status_code == 201, second.json()
    assert second.json()["contexts"][0]["id"] == first["contexts"][0]["id"]
    assert second.json()["inputs"][0]["id"] == first["outputs"][0]["id"]
    assert Context.objects.count() == 1
    output_event = Event.objects.get(artifact_id=second.json()["outputs"][0]["id"])
    assert output_event.path == [{"key": "model"}, {"index": 0}]


def test_record_context_by_id(writer: Any, dataset: dict[str, Any]) -> None:
    context = post(writer, "/api/v1/contexts", {"type": "Experiment", "name": "e", "properties": {"owner": "ana"}}).json()
    body = post(writer, RECORD, trainer_run(dataset["id"], contexts=[{"id": context["id"]}])).json()
    assert body["contexts"][0]["properties"] == {"owner": "ana"}  # used as stored, not overwritten


def test_record_is_atomic(writer: Any, dataset: dict[str, Any]) -> None:
    before = (Execution.objects.count(), Artifact.objects.count(), Context.objects.count(), Event.objects.count())
    bad_output = trainer_run(dataset["id"], outputs=[{"type": "Model", "uri": "s3://x", "properties": {"version": "one"}}])
    assert_error(post(writer, RECORD, bad_output), 400, "outputs[0].properties.version")
    missing_input = trainer_run(999)
    assert_error(post(writer, RECORD, missing_input), 400, "inputs[0].id")
    unknown_uri = trainer_run(0, inputs=[{"uri": "s3://nowhere"}])
    assert_error(post(writer, RECORD, unknown_uri), 400, "inputs[0].uri")
    bad_execution = trainer_run(dataset["id"], execution={"type": "Trainer", "properties": {"lr": "fast"}})
    assert_error(post(writer, RECORD, bad_execution), 400, "execution.properties.lr")
    unknown_context_type = trainer_run(dataset["id"], contexts=[{"type": "Nope", "name": "x"}])
    assert_error(post(writer, RECORD, unknown_context_type), 400, "contexts[0].type")
    assert before == (Execution.objects.count(), Artifact.objects.count(), Context.objects.count(), Event.objects.count())


def test_record_then_patch_state(writer: Any, dataset: dict[str, Any]) -> None:
    running = post(writer, RECORD, trainer_run(dataset["id"], execution={"type": "Trainer", "state": "RUNNING"})).json()
    execution_id = running["execution"]["id"]
    done = patch(writer, f"/api/v1/executions/{execution_id}", {"state": "COMPLETE"})
    assert done.json()["state"] == "COMPLETE"


# ---------------------------------------------------------------------------- idempotency


def test_same_key_returns_the_first_response_and_writes_once(writer: Any, dataset: dict[str, Any]) -> None:
    body = trainer_run(dataset["id"])
    first = post(writer, RECORD, body, HTTP_IDEMPOTENCY_KEY="run-42-trainer")
    second = post(writer, RECORD, body, HTTP_IDEMPOTENCY_KEY="run-42-trainer")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Execution.objects.count() == 1 and Artifact.objects.filter(uri="s3://m/1").count() == 1


def test_same_key_with_another_body_is_refused(writer: Any, dataset: dict[str, Any]) -> None:
    post(writer, RECORD, trainer_run(dataset["id"]), HTTP_IDEMPOTENCY_KEY="k")
    other = trainer_run(dataset["id"], outputs=[{"type": "Model", "uri": "s3://m/other"}])
    response = post(writer, RECORD, other, HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 422, "Idempotency-Key", contains="different request")
    assert not Artifact.objects.filter(uri="s3://m/other").exists()


def test_keys_are_per_user(api: Any, dataset: dict[str, Any]) -> None:
    body = trainer_run(dataset["id"])
    post(api("writer"), RECORD, body, HTTP_IDEMPOTENCY_KEY="shared")
    response = post(api("staff"), RECORD, trainer_run(dataset["id"], outputs=[]), HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Execution.objects.count() == 2


def test_a_failed_write_records_no_key(writer: Any, dataset: dict[str, Any]) -> None:
    bad = trainer_run(999)
    assert post(writer, RECORD, bad, HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert post(writer, RECORD, trainer_run(dataset["id"]), HTTP_IDEMPOTENCY_KEY="k").status_code == 201


def test_key_and_write_commit_together(writer: Any, dataset: dict[str, Any], dataset_types: dict[str, int]) -> None:
    """A crash after the write but before its response is stored loses both: they are one transaction."""
    original = IdempotencyKey.save

    def crash(self: IdempotencyKey, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields"):
            raise RuntimeError("power cut")
        original(self, *args, **kwargs)

    def write() -> tuple[int, Any]:
        core.call("PutExecutions", svc.PutExecutionsRequest(executions=[pb.Execution(type_id=dataset_types["Trainer"])]))
        return 201, {}

    with mock.patch.object(IdempotencyKey, "save", crash), pytest.raises(RuntimeError):
        idempotency.run_once(User.objects.get(username="writer").id, "crash", "digest", write)
    assert not Execution.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_expired_keys_may_be_used_again(writer: Any, dataset: dict[str, Any], settings: Any) -> None:
    post(writer, RECORD, trainer_run(dataset["id"]), HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyKey.objects.update(created=timezone.now() - timedelta(hours=settings.MLMD_IDEMPOTENCY_KEY_TTL_HOURS + 1))
    again = post(writer, RECORD, trainer_run(dataset["id"], outputs=[]), HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Execution.objects.count() == 2


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "ключ"])
def test_bad_idempotency_keys(writer: Any, dataset: dict[str, Any], key: str) -> None:
    response = post(writer, RECORD, trainer_run(dataset["id"]), HTTP_IDEMPOTENCY_KEY=key)
    assert_error(response, 400, "Idempotency-Key")
    assert not Execution.objects.exists()


def test_idempotency_on_plain_creates_too(writer: Any, dataset_types: Any) -> None:
    body = {"type": "DataSet", "uri": "s3://once"}
    first = post(writer, "/api/v1/artifacts", body, HTTP_IDEMPOTENCY_KEY="a1")
    second = post(writer, "/api/v1/artifacts", body, HTTP_IDEMPOTENCY_KEY="a1")
    assert second.json() == first.json()
    assert Artifact.objects.filter(uri="s3://once").count() == 1


def test_a_concurrent_request_with_the_same_key_is_replayed(writer: Any, dataset: dict[str, Any]) -> None:
    """Two requests racing with one key: the loser hits the unique (user, key) row and replays the winner's answer."""
    first = post(writer, RECORD, trainer_run(dataset["id"]), HTTP_IDEMPOTENCY_KEY="race").json()
    real_stored = idempotency._stored
    calls = {"n": 0}

    def not_yet_visible(user_id: int, key: str) -> IdempotencyKey | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_stored(user_id, key)  # the winner commits meanwhile

    with mock.patch.object(idempotency, "_stored", not_yet_visible):
        second = post(writer, RECORD, trainer_run(dataset["id"]), HTTP_IDEMPOTENCY_KEY="race")
    assert second.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert second.json() == first
    assert Execution.objects.count() == 1
