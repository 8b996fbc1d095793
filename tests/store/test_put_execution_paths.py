"""PutExecution's one-pass path for a finished step, held to the general path.

``executions._record_new_run`` writes the common request (a new execution,
inputs given back as stored, new outputs, contexts given back by id) without
the general machinery.  These tests run the same requests both ways on two
stores and compare everything stored, and check that every other request goes
the general way before anything is written.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from google.protobuf import struct_pb2

from store import models
from store.proto import metadata_store_pb2 as pb
from store.services import executions
from store.services.errors import MetadataStoreError
from tests.store.mlmd import (
    artifact_type,
    call,
    context_type,
    execution_type,
    full_values,
    put_artifacts,
    put_contexts,
    row_counts,
)

pytestmark = pytest.mark.django_db

TIMES = ("create_time_since_epoch", "last_update_time_since_epoch", "milliseconds_since_epoch")


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per PutExecution: whether the one-pass path wrote it."""
    seen: list[bool] = []
    original = executions._record_new_run

    def spy(*args: Any) -> Any:
        try:
            result = original(*args)
        except Exception:
            seen.append(True)  # it wrote, and the database refused
            raise
        seen.append(result is not None)
        return result

    monkeypatch.setattr(executions, "_record_new_run", spy)
    return seen


class World:
    """Types, two stored datasets and a stored context: what the requests refer to."""

    def __init__(self) -> None:
        declared = {"count": pb.INT, "score": pb.DOUBLE, "split": pb.STRING}
        self.data = artifact_type("Data", **declared)
        self.model = artifact_type("Model", **declared)
        self.trainer = execution_type("Trainer", **declared)
        self.run = context_type("Run", **declared)
        self.inputs = [
            _stored("Artifacts", i)
            for i in put_artifacts(
                full_values(pb.Artifact(type_id=self.data, uri="s3://d/0", name="d0", state=pb.Artifact.LIVE)),
                pb.Artifact(type_id=self.data, uri="s3://d/1", external_id="d-1"),
            )
        ]
        [context_id] = put_contexts(full_values(pb.Context(type_id=self.run, name="run-1")))
        self.context = _stored("Contexts", context_id)

    def request(self, step: int = 0) -> dict[str, Any]:
        """A finished step: two inputs as read, a new model, its context as read."""
        execution = full_values(pb.Execution(type_id=self.trainer, name=f"train-{step}"))
        execution.last_known_state = pb.Execution.COMPLETE
        execution.system_metadata.Pack(struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value="v")}))
        model = full_values(pb.Artifact(type_id=self.model, uri=f"s3://m/{step}", name=f"m{step}", external_id=f"m-{step}"))
        output = pb.Event(type=pb.Event.OUTPUT, milliseconds_since_epoch=1234)
        output.path.steps.add().key = "model"
        output.path.steps.add().index = 0
        return {
            "execution": execution,
            "artifact_event_pairs": [
                {"artifact": self.inputs[0], "event": {"type": pb.Event.INPUT}},
                {"artifact": self.inputs[1], "event": {"type": pb.Event.DECLARED_INPUT}},
                {"artifact": model, "event": output},
                {"artifact": pb.Artifact(type_id=self.model, uri=f"s3://m/{step}/plain"), "event": {"type": pb.Event.OUTPUT}},
            ],
            "contexts": [self.context],
        }


def _stored(plural: str, node_id: int) -> Any:
    response = call(f"Get{plural}ByID", **{f"{plural[:-1].lower()}_ids": [node_id]})
    return getattr(response, plural.lower())[0]


NODES = {models.Artifact: pb.Artifact, models.Execution: pb.Execution, models.Context: pb.Context}
# (model, its foreign keys → the model they name), ids left out.
ROWS = (
    (models.ArtifactProperty, {"artifact_id": models.Artifact}),
    (models.ExecutionProperty, {"execution_id": models.Execution}),
    (models.ContextProperty, {"context_id": models.Context}),
    (models.Event, {"artifact_id": models.Artifact, "execution_id": models.Execution}),
    (models.Attribution, {"context_id": models.Context, "artifact_id": models.Artifact}),
    (models.Association, {"context_id": models.Context, "execution_id": models.Execution}),
)


class Dump:
    """Every row of the store, ids replaced by positions (auto-increment ids differ
    between two runs on MariaDB) and times the store chose left out."""

    def __init__(self) -> None:
        self.position: dict[tuple[Any, int], int] = {}
        for model in (models.Type, *NODES):
            for index, pk in enumerate(model.objects.order_by("pk").values_list("pk", flat=True)):
                self.position[(model, pk)] = index
        self.rows: dict[str, list[Any]] = {}
        for model, proto in NODES.items():
            self.rows[model.__name__] = [self._node(row, proto) for row in model.objects.order_by("pk").values()]
        for model, keys in ROWS:
            self.rows[model.__name__] = sorted(
                (self._row(row, keys) for row in model.objects.values()), key=repr
            )

    def _node(self, row: dict[str, Any], proto: Callable[[], Any]) -> Any:
        row.pop("id")
        row["type_id"] = self.position[(models.Type, row["type_id"])]
        for name in TIMES:
            row.pop(name, None)
        message = proto()
        message.ParseFromString(bytes(row.pop("serialized")))
        for name in ("create_time_since_epoch", "last_update_time_since_epoch", "type_id"):
            message.ClearField(name)
        return sorted(row.items()), message

    def _row(self, row: dict[str, Any], keys: dict[str, Any]) -> Any:
        row.pop("id")
        for name, model in keys.items():
            row[name] = self.position[(model, row[name])]
        if row.get("milliseconds_since_epoch", 0) > 10**9:
            row["milliseconds_since_epoch"] = "now"
        return sorted(row.items())

    def answer(self, response: Any) -> Any:
        if isinstance(response, str):  # a refusal; the ids it names differ between runs on MariaDB
            return re.sub(r"\d+", "N", response)
        return (
            self.position[(models.Execution, response.execution_id)],
            [self.position[(models.Artifact, i)] for i in response.artifact_ids],
            [self.position[(models.Context, i)] for i in response.context_ids],
        )


def _run_requests(requests: Callable[[World], Iterator[dict[str, Any]]]) -> tuple[list[Any], dict[str, Any]]:
    """The answers to the requests (by position) and the store after them, all in a transaction rolled back after."""
    from django.db import transaction

    with transaction.atomic():
        world = World()
        responses = []
        for fields in requests(world):
            try:
                responses.append(call("PutExecution", **fields))
            except MetadataStoreError as exc:
                responses.append(f"{type(exc).__name__}: {exc.message}")
        dump = Dump()
        transaction.set_rollback(True)
    return [dump.answer(r) for r in responses], dump.rows


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, requests: Callable[[World], Iterator[dict[str, Any]]]
) -> tuple[tuple[list[Any], dict[str, Any]], tuple[list[Any], dict[str, Any]]]:
    """``_run_requests`` with the one-pass path, then without it."""
    fast = _run_requests(requests)
    with monkeypatch.context() as patch:
        patch.setattr(executions, "_record_new_run", lambda *args: None)
        general = _run_requests(requests)
    return fast, general


def test_a_finished_step_takes_the_one_pass_path(taken: list[bool]) -> None:
    world = World()
    call("PutExecution", **world.request())
    assert taken == [True]


def test_the_one_pass_path_stores_what_the_general_path_stores(taken: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    def requests(world: World) -> Iterator[dict[str, Any]]:
        for step in range(3):
            yield world.request(step)
        yield {"execution": pb.Execution(type_id=world.trainer)}  # nothing else
        yield {"execution": pb.Execution(type_id=world.trainer), "contexts": [world.context, world.context]}
        yield {"execution": pb.Execution(type_id=world.trainer), "artifact_event_pairs": [
            {"artifact": world.inputs[0], "event": {"type": pb.Event.INPUT}},
            {"artifact": world.inputs[0], "event": {"type": pb.Event.INPUT}},  # given twice
        ]}

    fast, general = _both_ways(monkeypatch, requests)
    assert taken == [True] * 4 + [False] * 2
    assert not [r for r in fast[0] if isinstance(r, str)], fast[0]
    assert fast == general
    assert len(fast[1]["Event"]) == 3 * 4 + 1  # the same event given twice is recorded once
    assert len(fast[1]["Association"]) == 4  # the steps and the execution with its context twice


def _changed_input(world: World) -> dict[str, Any]:
    fields = world.request()
    changed = pb.Artifact()
    changed.CopyFrom(world.inputs[0])
    changed.properties["count"].int_value = 8
    fields["artifact_event_pairs"][0]["artifact"] = changed
    return fields


def _new_context(world: World) -> dict[str, Any]:
    fields = world.request()
    fields["contexts"] = [pb.Context(type_id=world.run, name="run-1")]
    fields["options"] = {"reuse_context_if_already_exist": True}
    return fields


def _with(world: World, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    fields = world.request()
    change(fields)
    return fields


def _pair(index: int, **event: Any) -> Callable[[dict[str, Any]], None]:
    def change(fields: dict[str, Any]) -> None:
        fields["artifact_event_pairs"][index]["event"] = event

    return change


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(fields: dict[str, Any]) -> None:
        fields[name] = value

    return change


def _bad_property(fields: dict[str, Any]) -> None:
    fields["execution"].properties["undeclared"].int_value = 1


def _missing_input(fields: dict[str, Any]) -> None:
    fields["artifact_event_pairs"][0]["artifact"] = pb.Artifact(id=999_999)


def _bad_path(fields: dict[str, Any]) -> None:
    fields["artifact_event_pairs"][2]["event"].path.steps.add()


def _existing_execution(world: World) -> dict[str, Any]:
    fields = world.request()
    fields["execution"].id = call("PutExecutions", executions=[pb.Execution(type_id=world.trainer)]).execution_ids[0]
    return fields


GENERAL_WAY: dict[str, Callable[[World], dict[str, Any]]] = {
    "a changed input is updated": _changed_input,
    "a context by (type, name) is reused": _new_context,
    "the execution is stored already": _existing_execution,
    "an event names its artifact": lambda w: _with(w, _pair(0, type=pb.Event.INPUT, artifact_id=w.inputs[0].id)),
    "an event without a type": lambda w: _with(w, _pair(1)),
    "a pair without an event": lambda w: _with(w, lambda f: f["artifact_event_pairs"][0].pop("event")),
    "force_update_time": lambda w: _with(w, _set("options", {"force_update_time": True})),
    "an undeclared property": lambda w: _with(w, _bad_property),
    "an input that does not exist": lambda w: _with(w, _missing_input),
    "a path step without a value": lambda w: _with(w, _bad_path),
    "an execution type that is not one": lambda w: _with(w, lambda f: setattr(f["execution"], "type_id", w.data)),
    "an output without a type_id": lambda w: _with(w, lambda f: f["artifact_event_pairs"][2]["artifact"].ClearField("type_id")),
}


@pytest.mark.parametrize("case", GENERAL_WAY)
def test_any_other_request_goes_the_general_way(case: str, taken: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    def requests(world: World) -> Iterator[dict[str, Any]]:
        yield GENERAL_WAY[case](world)

    fast, general = _both_ways(monkeypatch, requests)
    assert taken == [False]
    assert fast == general


def test_a_refused_request_leaves_the_store_as_it_was(taken: list[bool]) -> None:
    world = World()
    before = row_counts()
    fields = world.request()
    # Two new models with one name: refused by the database, after the execution was inserted.
    fields["artifact_event_pairs"][3]["artifact"].name = fields["artifact_event_pairs"][2]["artifact"].name
    with pytest.raises(MetadataStoreError):
        call("PutExecution", **fields)
    assert taken == [True]
    assert row_counts() == before


def test_a_finished_step_runs_one_statement_per_table_it_writes() -> None:
    world = World()
    fields = world.request()
    with CaptureQueriesContext(connection) as captured:
        call("PutExecution", **fields)
    statements = [q["sql"] for q in captured.captured_queries]
    writes = [s.split()[2].strip('"`') for s in statements if s.startswith("INSERT")]
    assert sorted(writes) == sorted([
        "store_execution", "store_executionproperty", "store_artifact", "store_artifactproperty",
        "store_event", "store_attribution", "store_association",
    ])
    # Reads: the request's types, then its two inputs in one query and its context in another (none per node).
    reads = [s for s in statements if s.startswith("SELECT")]
    assert len(reads) == 3, reads
    assert not [s for s in statements if s.split()[0] in ("UPDATE", "DELETE")], statements
