"""Filling the stored messages of nodes that have none (``store.services.node_messages``, ``fill_node_messages``).

A filled store must answer exactly what it answered before (the messages then
rebuilt from the rows), and a fill must never store a message older than the
node's rows: the race test holds a fill between its reads and its writes while
an admin edit runs.
"""
from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from google.protobuf import struct_pb2

from store.models import Artifact, Context, ContextProperty, Execution
from store.proto import metadata_store_pb2 as pb
from store.services import node_messages, nodes
from store.services.kinds import ARTIFACT, CONTEXT
from tests.reliability.conftest import figure  # noqa: F401 -- the figure fixture of the reliability tests
from tests.store.mlmd import (
    artifact_type,
    call,
    context_type,
    execution_type,
    put_artifacts,
    put_contexts,
    put_executions,
)
from tests.store.test_serialized_nodes import DECLARED, _every_kind_of_value

MODELS = {"artifact": Artifact, "execution": Execution, "context": Context}
READS = {"artifact": "GetArtifactsByID", "execution": "GetExecutionsByID", "context": "GetContextsByID"}


def _read(kind: str, ids: list[int]) -> list[Any]:
    return list(getattr(call(READS[kind], **{f"{kind}_ids": ids}), f"{kind}s"))


def _missing(kind: str) -> int:
    return MODELS[kind].objects.filter(serialized__isnull=True).count()


def _some_of_each_kind(count: int = 6) -> dict[str, list[int]]:
    """``count`` nodes of each kind, with every kind of property value, through the services."""
    data = artifact_type("Data", **DECLARED)
    trainer = execution_type("Trainer", **DECLARED)
    run = context_type("Run", **DECLARED)
    artifacts, executions, contexts = [], [], []
    for i in range(count):
        artifact = pb.Artifact(type_id=data, name=f"a{i}", uri=f"s3://{i}", external_id=f"ext-{i}", state=pb.Artifact.LIVE)
        artifact.system_metadata.Pack(struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value="v")}))
        execution = pb.Execution(type_id=trainer, name=f"e{i}", last_known_state=pb.Execution.COMPLETE)
        context = pb.Context(type_id=run, name=f"run-{i}")
        for node in (artifact, execution, context):
            if i % 3:  # and some bare ones
                _every_kind_of_value(node)
        artifacts.append(artifact)
        executions.append(execution)
        contexts.append(context)
    return {
        "artifact": put_artifacts(*artifacts),
        "execution": put_executions(*executions),
        "context": put_contexts(*contexts),
    }


@pytest.mark.django_db
def test_fill_stores_what_the_reads_rebuilt(figure: Any) -> None:  # noqa: F811
    ids = _some_of_each_kind()
    dropped = {}
    for kind, node_ids in ids.items():
        # Half of them as if imported or written before the column existed.
        dropped[kind] = MODELS[kind].objects.filter(id__in=node_ids[::2]).update(serialized=None)
    before = {kind: _read(kind, node_ids) for kind, node_ids in ids.items()}
    kept = {kind: dict(MODELS[kind].objects.filter(serialized__isnull=False).values_list("id", "serialized")) for kind in ids}
    assert all(_missing(kind) == 3 for kind in ids)

    started = time.monotonic()
    filled = node_messages.fill_all()
    elapsed = time.monotonic() - started

    assert filled == dropped == {"artifact": 3, "execution": 3, "context": 3}
    for kind, node_ids in ids.items():
        assert _missing(kind) == 0
        assert _read(kind, node_ids) == before[kind]
        # The messages stored by the services were left alone.
        stored = dict(MODELS[kind].objects.filter(id__in=kept[kind]).values_list("id", "serialized"))
        assert {i: bytes(b) for i, b in stored.items()} == {i: bytes(b) for i, b in kept[kind].items()}
    assert before["artifact"][2].custom_properties["nested"].struct_value["c"] == 2.5
    assert before["execution"][2].properties["split"].string_value == "tráin ✓"
    assert node_messages.fill_all() == {"artifact": 0, "execution": 0, "context": 0}
    figure(f"3 kinds x 6 nodes, 9 without a message: {sum(filled.values())} filled in {elapsed:.2f} s, then 0 on a second run")


@pytest.mark.django_db
def test_fill_goes_chunk_by_chunk_over_ids(figure: Any) -> None:  # noqa: F811
    type_id = artifact_type("Data", **DECLARED)
    messages = []
    for i in range(7):
        node = pb.Artifact(type_id=type_id, name=f"a{i}")
        _every_kind_of_value(node)
        messages.append(node)
    ids = put_artifacts(*messages)
    missing = [ids[i] for i in (0, 1, 3, 4, 6)]  # 5 without a message, between 2 with one
    Artifact.objects.filter(id__in=missing).update(serialized=None)
    before = _read("artifact", ids)
    chunks: list[int] = []

    with CaptureQueriesContext(connection) as queries:
        filled = node_messages.fill_missing(ARTIFACT, chunk=2, progress=chunks.append)

    assert filled == 5 and chunks == [2, 2, 1]
    assert _missing("artifact") == 0 and _read("artifact", ids) == before
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("OFFSET" in s.upper() for s in statements)
    locks = [s for s in statements if s.upper().endswith("FOR UPDATE")]
    assert len(locks) == (3 if connection.features.has_select_for_update else 0)
    updates = [s for s in statements if s.upper().startswith("UPDATE")]
    assert len(updates) == 3  # one statement per chunk
    figure(f"chunk=2 over 5 of 7 artifacts: {filled} filled in chunks {chunks}, {len(statements)} statements, {len(locks)} locking reads")


@pytest.mark.django_db
def test_fill_node_messages_command(figure: Any) -> None:  # noqa: F811
    ids = _some_of_each_kind(4)
    for kind, node_ids in ids.items():
        MODELS[kind].objects.filter(id__in=node_ids[1:]).update(serialized=None)

    out = io.StringIO()
    call_command("fill_node_messages", "--chunk", "2", "--no-progress", stdout=out, stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert [line.split(" filled in ")[0] for line in lines] == ["artifacts: 3", "executions: 3", "contexts: 3"]
    assert all(line.endswith(" s") for line in lines)
    assert all(_missing(kind) == 0 for kind in ids)

    again = io.StringIO()
    call_command("fill_node_messages", "--no-progress", stdout=again, stderr=io.StringIO())
    assert [line.split(" filled in ")[0] for line in again.getvalue().splitlines()] == [
        "artifacts: 0", "executions: 0", "contexts: 0",
    ]
    figure(f"first run: {' / '.join(lines)}; second run fills 0")


mysql_only = pytest.mark.skipif(
    connection.vendor != "mysql", reason="row locks: runs in the MariaDB pass (SQLite's IMMEDIATE transactions serialize writers)"
)


@mysql_only
@pytest.mark.django_db(transaction=True)
def test_an_admin_edit_during_a_fill_is_not_overwritten(monkeypatch: pytest.MonkeyPatch, figure: Any) -> None:  # noqa: F811
    """The fill reads a node's properties, then an admin edit of one of them commits, then the fill writes.

    The edit's "drop the node's message" waits for the fill's row lock, so the
    message the fill built from the old value does not survive the edit.
    """
    run = context_type("Run", owner=pb.STRING)
    [context_id] = put_contexts(pb.Context(type_id=run, name="r", properties={"owner": pb.Value(string_value="me")}))
    Context.objects.filter(id=context_id).update(serialized=None)

    built, go = threading.Event(), threading.Event()
    real_node_protos = nodes.node_protos

    def node_protos_then_wait(*args: Any, **kwargs: Any) -> list[Any]:
        messages = real_node_protos(*args, **kwargs)  # the properties are read: hold the fill here
        built.set()
        assert go.wait(30)
        return messages

    monkeypatch.setattr(nodes, "node_protos", node_protos_then_wait)
    errors: list[BaseException] = []
    admin_done: list[float] = []

    def in_thread(work: Any) -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    def admin_edit() -> None:
        started = time.monotonic()
        with transaction.atomic():
            value = ContextProperty.objects.get(context_id=context_id, name="owner")
            value.string_value = "you"
            value.save()  # drops the node's message
        admin_done.append(time.monotonic() - started)

    filler = threading.Thread(target=in_thread, args=(lambda: node_messages.fill_missing(CONTEXT),))
    filler.start()
    assert built.wait(30)
    admin = threading.Thread(target=in_thread, args=(admin_edit,))
    admin.start()
    admin.join(1.0)
    waited_on_the_lock = admin.is_alive()
    go.set()
    filler.join(30)
    admin.join(30)

    assert not errors, errors
    assert waited_on_the_lock, "the admin edit committed while the fill held the node"
    assert Context.objects.get(id=context_id).serialized is None
    assert _read("context", [context_id])[0].properties["owner"].string_value == "you"
    monkeypatch.undo()
    assert node_messages.fill_missing(CONTEXT) == 1
    assert _read("context", [context_id])[0].properties["owner"].string_value == "you"
    figure(f"admin edit during a fill: waited {admin_done[0]:.1f} s for the fill's row lock, then dropped its message; reads 'you'")
