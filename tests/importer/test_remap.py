"""Importing into a store that already holds metadata: new ids, a mapping, and no clash."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError

from store.db import using
from store.models import MlmdImport
from store.proto import metadata_store_pb2 as pb
from tests.importer.helpers import run_command
from tests.importer.reference import open_store, our_dump
from tests.store.mlmd import row_counts


def _prepare(store: Any) -> None:
    """Metadata of the store's own: a matching Model type, other nodes, ids that overlap the source's."""
    model_t = store.put_artifact_type(pb.ArtifactType(name="Model", properties={"accuracy": pb.DOUBLE}, base_type=pb.ArtifactType.MODEL))
    other_t = store.put_artifact_type(pb.ArtifactType(name="Local"))
    store.put_artifacts([pb.Artifact(type_id=model_t, uri=f"local://{i}", name=f"local-{i}") for i in range(30)])
    store.put_artifacts([pb.Artifact(type_id=other_t, uri="local://other")])
    exec_t = store.put_execution_type(pb.ExecutionType(name="LocalStep"))
    store.put_executions([pb.Execution(type_id=exec_t) for _ in range(3)])
    ctx_t = store.put_context_type(pb.ContextType(name="local"))
    store.put_contexts([pb.Context(type_id=ctx_t, name="mine")])


def _remapped(node: dict[str, Any], ids: dict[str, int], types: dict[str, int]) -> dict[str, Any]:
    return {**node, "id": ids[str(node["id"])], "type_id": types[str(node["type_id"])]}


def test_import_into_a_store_with_data_remaps_ids(
    source_db: Path, source_dump: dict[str, Any], tmp_path: Path, db_files: None
) -> None:
    mapping_file = tmp_path / "mapping.json"
    with open_store(tmp_path / "store.sqlite3") as store:
        _prepare(store)
        run = run_command(
            store, "import_mlmd", "--sqlite", str(source_db), "--batch-size", "6", "--no-progress",
            "--mapping-file", str(mapping_file), report_file=tmp_path / "report.json",
        )
        ours = our_dump(store)
        model_type = store.get_artifact_type("Model")
    assert f"the source → store id mapping is in {mapping_file}" in run.stdout
    report = run.report
    assert report is not None and report["ok"] and report["ids"] == "remapped", report
    assert any("merged into the store's type" in w for w in report["warnings"])
    mapping = json.loads(mapping_file.read_text())
    types = mapping["types"]
    # Model is merged (its missing property added); the other types are new.
    assert types[str(next(t["id"] for t in source_dump["artifact_types"] if t["name"] == "Model"))] == model_type.id
    assert set(model_type.properties) == {"accuracy", "framework"}
    for kind in ("artifacts", "executions", "contexts"):
        ids = mapping[kind]
        assert sorted(map(int, ids)) == [n["id"] for n in source_dump[kind]]
        assert len(set(ids.values())) == len(ids) and min(ids.values()) > 0
        by_id = {n["id"]: n for n in ours[kind]}
        for node in source_dump[kind]:
            assert by_id[ids[str(node["id"])]] == _remapped(node, ids, types)
    artifacts, executions = mapping["artifacts"], mapping["executions"]
    expected_events = sorted(
        (artifacts[str(e["artifact_id"])], executions[str(e["execution_id"])], e["type"], e["milliseconds_since_epoch"], json.dumps(e.get("path")))
        for e in source_dump["events_by_execution_ids"]
    )
    imported_executions = set(executions.values())
    got_events = sorted(
        (e["artifact_id"], e["execution_id"], e["type"], e["milliseconds_since_epoch"], json.dumps(e.get("path")))
        for e in ours["events_by_execution_ids"]
        if e["execution_id"] in imported_executions
    )
    assert got_events == expected_events
    contexts = mapping["contexts"]
    for context_id, parents in source_dump["parent_contexts_by_context"].items():
        assert ours["parent_contexts_by_context"][str(contexts[context_id])] == [contexts[str(p)] for p in parents]
    for context_id, members in source_dump["artifacts_by_context"].items():
        assert sorted(ours["artifacts_by_context"][str(contexts[context_id])]) == sorted(artifacts[str(a)] for a in members)


def test_a_clash_with_the_store_is_refused_before_anything_is_written(
    source_db: Path, source_dump: dict[str, Any], tmp_path: Path, db_files: None
) -> None:
    with open_store(tmp_path / "store.sqlite3") as store:
        # The store has a Model type whose property is a STRING, and an artifact of the source's name.
        model_t = store.put_artifact_type(pb.ArtifactType(name="Model", properties={"accuracy": pb.STRING}, base_type=pb.ArtifactType.MODEL))
        examples_t = store.put_artifact_type(pb.ArtifactType(name="Examples", properties={"span": pb.INT}, base_type=pb.ArtifactType.DATASET))
        store.put_artifacts([pb.Artifact(type_id=examples_t, name="run-0.raw"), pb.Artifact(type_id=model_t, uri="x")])
        with using(store.database_alias):
            before = row_counts()
            with pytest.raises(CommandError) as refused:
                run_command(store, "import_mlmd", "--sqlite", str(source_db), "--no-progress")
            assert row_counts() == before
            assert not MlmdImport.objects.exists()
    message = str(refused.value)
    assert "nothing was written" in message
    assert "artifact type 'Model': property 'accuracy' has data type 2 in the source, 3 in the store" in message
    assert "artifact 'run-0.raw': the store already has one of that type and name" in message
