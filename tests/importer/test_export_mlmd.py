"""``export_mlmd``: our store as an ml-metadata file that ml-metadata 1.17.1 opens and reads."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError
from google.protobuf import any_pb2, struct_pb2, timestamp_pb2

from store.mlmd_schema import SCHEMA_VERSION, SQLITE_SCHEMA, SYSTEM_TYPES
from store.proto import metadata_store_pb2 as pb
from tests.importer.helpers import run_command
from tests.importer.reference import (
    first_difference,
    open_store,
    our_dump,
    reference_dump,
    run_reference,
    without_known_divergences,
)


def _schema(path: Path) -> list[tuple[str, str, str, str | None]]:
    with sqlite3.connect(path) as connection:
        return sorted(connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))


def test_embedded_schema_is_what_ml_metadata_creates(mlmd_python: Path, tmp_path: Path) -> None:
    """The DDL and system types we write are exactly those of a new ml-metadata 1.17.1 store."""
    reference = json.loads(run_reference(mlmd_python, "ddl", str(tmp_path / "new.sqlite")))
    statements = [entry["sql"] for entry in reference["schema"] if not entry["sql"].startswith("CREATE TABLE sqlite_sequence")]
    assert list(SQLITE_SCHEMA) == statements
    assert reference["rows"]["MLMDEnv"] == [[SCHEMA_VERSION]]
    assert [[i + 1, name, None, kind] for i, (name, kind, _base) in enumerate(SYSTEM_TYPES)] == reference["rows"]["Type"]


def test_round_trip_answers_like_the_original(
    imported: dict[str, Any], source_db: Path, source_dump: dict[str, Any], mlmd_python: Path, tmp_path: Path,
    db_files: None,
) -> None:
    """ml-metadata → import_mlmd → export_mlmd → ml-metadata: the same answers, to the last field."""
    exported = tmp_path / "exported.sqlite"
    with open_store(imported["target"], read_only=True) as store:
        out = run_command(store, "export_mlmd", "--sqlite", str(exported), "--no-progress").stdout
    assert "ml-metadata schema version 10" in out
    answers = reference_dump(mlmd_python, str(exported))
    assert answers == source_dump, first_difference(source_dump, answers)
    assert _schema(exported) == _schema(source_db)
    # And the export imports back like the original.
    with open_store(tmp_path / "again.sqlite3") as store:
        report = run_command(
            store, "import_mlmd", "--sqlite", str(exported), "--no-progress", report_file=tmp_path / "again.json"
        ).report
    assert report is not None and report["ok"]
    assert report["counts"] == imported["run"].report["counts"]


def _record_natively(store: Any) -> None:
    """A small store written through our own API (type ids start at 1, where ml-metadata keeps system types)."""
    model_t = store.put_artifact_type(
        pb.ArtifactType(name="Model", properties={"acc": pb.DOUBLE, "cfg": pb.STRUCT, "blob": pb.PROTO}, base_type=pb.ArtifactType.MODEL)
    )
    data_t = store.put_artifact_type(pb.ArtifactType(name="Data", version="2", external_id="data-v2"))
    train_t = store.put_execution_type(pb.ExecutionType(name="Train", base_type=pb.ExecutionType.TRAIN))
    run_t = store.put_context_type(pb.ContextType(name="Run", properties={"ok": pb.BOOLEAN}))
    model = pb.Artifact(type_id=model_t, uri="m://1", name="m1", state=pb.Artifact.LIVE, external_id="ext-m1")
    model.properties["acc"].double_value = 0.25
    config = struct_pb2.Struct()
    config.update({"layers": [1, 2], "name": "x"})
    model.properties["cfg"].struct_value.CopyFrom(config)
    packed = any_pb2.Any()
    packed.Pack(timestamp_pb2.Timestamp(seconds=5))
    model.properties["blob"].proto_value.CopyFrom(packed)
    model.custom_properties["n"].int_value = -3
    model.custom_properties["flag"].bool_value = True
    [data_id] = store.put_artifacts([pb.Artifact(type_id=data_t, uri="d://1")])
    context = pb.Context(type_id=run_t, name="run-1")
    context.properties["ok"].bool_value = False
    [parent_id] = store.put_contexts([pb.Context(type_id=run_t, name="experiment")])
    input_event = pb.Event(type=pb.Event.INPUT)
    input_event.path.steps.add().key = "data"
    output_event = pb.Event(type=pb.Event.OUTPUT)
    output_event.path.steps.add().index = 3
    _execution_id, _artifacts, [run_id] = store.put_execution(
        pb.Execution(type_id=train_t, last_known_state=pb.Execution.COMPLETE),
        [(store.get_artifacts_by_id([data_id])[0], input_event), (model, output_event)],
        [context],
    )
    store.put_parent_contexts([pb.ParentContext(child_id=run_id, parent_id=parent_id)])


def test_export_of_a_store_made_here(mlmd_python: Path, tmp_path: Path, db_files: None) -> None:
    with open_store(tmp_path / "native.sqlite3") as store:
        _record_natively(store)
        ours = our_dump(store)
        run_command(store, "export_mlmd", "--sqlite", str(tmp_path / "native.mlmd"), "--no-progress")
    theirs = reference_dump(mlmd_python, str(tmp_path / "native.mlmd"))
    assert without_known_divergences(theirs) == without_known_divergences(ours), first_difference(theirs, ours)
    assert [t["base_type"] for t in theirs["artifact_types"] if t["name"] == "Model"] == [pb.ArtifactType.MODEL]
    with sqlite3.connect(tmp_path / "native.mlmd") as connection:
        # Our type ids 1-4 are kept; ml-metadata's system types follow them.
        assert connection.execute("SELECT MIN(id) FROM Type WHERE name LIKE 'mlmd.%'").fetchone() == (5,)


def test_export_refuses_to_overwrite(tmp_path: Path, db_files: None) -> None:
    existing = tmp_path / "there.sqlite"
    existing.write_bytes(b"keep me")
    with open_store(tmp_path / "store.sqlite3") as store, pytest.raises(CommandError, match="exists"):
        run_command(store, "export_mlmd", "--sqlite", str(existing))
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.sqlite3", "there.sqlite"]
