"""``load_types`` / ``export_types``: PutTypesRequest files, all or nothing, with a report per type."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from store.proto import metadata_store_pb2 as pb
from store.services import types_io
from store.services.errors import InvalidArgument
from tests.store.mlmd import artifact_type, call, row_counts

TYPES = """
# proto-file: ml_metadata/proto/metadata_store_service.proto
# proto-message: ml_metadata.PutTypesRequest
artifact_types {
  name: "Model"
  version: "2"
  properties { key: "accuracy" value: DOUBLE }
  properties { key: "config" value: STRUCT }
  base_type: MODEL
  external_id: "models/v2"
}
artifact_types { name: "DataSet" properties { key: "day" value: INT } properties { key: "split" value: STRING } }
execution_types { name: "Trainer" properties { key: "state" value: STRING } base_type: TRAIN }
context_types { name: "Experiment" description: "A study" }
"""


def _load(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("load_types", str(path), *args, stdout=out)
    return out.getvalue()


@pytest.fixture()
def types_file(tmp_path: Path) -> Path:
    path = tmp_path / "types.textproto"
    path.write_text(TYPES)
    return path


def test_load_creates_then_leaves_unchanged(types_file: Path, db: None) -> None:
    artifact_type("DataSet")  # already stored, same properties
    out = _load(types_file)
    assert "created   ArtifactType Model (version 2)" in out
    assert "unchanged ArtifactType DataSet" in out
    assert "3 created, 0 updated, 1 unchanged, 0 refused" in out
    stored = call("GetArtifactType", type_name="Model", type_version="2").artifact_type
    assert stored.base_type == pb.ArtifactType.MODEL and stored.external_id == "models/v2"
    assert dict(stored.properties) == {"accuracy": pb.DOUBLE, "config": pb.STRUCT}
    assert call("GetContextType", type_name="Experiment").context_type.description == "A study"
    before = row_counts()
    assert "0 created, 0 updated, 4 unchanged, 0 refused" in _load(types_file)
    assert row_counts() == before


def test_a_refused_type_means_nothing_is_written(types_file: Path, tmp_path: Path, db: None) -> None:
    artifact_type("DataSet", day=pb.INT, split=pb.STRING, owner=pb.STRING)  # the file omits "owner"
    before = row_counts()
    with pytest.raises(CommandError, match="1 refused — nothing was written") as refused:
        _load(types_file)
    assert refused.value.returncode == 1
    assert row_counts() == before
    request = types_io.parse_types(types_file.read_text())
    report = types_io.load_types(request)
    assert [(o.kind, o.name, o.status) for o in report.outcomes] == [
        ("ArtifactType", "Model", "created"),
        ("ArtifactType", "DataSet", "refused"),
        ("ExecutionType", "Trainer", "created"),
        ("ContextType", "Experiment", "created"),
    ]
    assert "owner" in report.outcomes[1].detail and "can_omit_fields" in report.outcomes[1].detail
    assert not report.written and row_counts() == before
    # The flag the message names makes the same file load.
    assert "3 created, 0 updated, 1 unchanged, 0 refused" in _load(types_file, "--can-omit-fields")


def test_evolution_needs_can_add_fields(types_file: Path, tmp_path: Path, db: None) -> None:
    _load(types_file)
    evolved = tmp_path / "evolved.textproto"
    evolved.write_text('artifact_types { name: "DataSet" properties { key: "day" value: INT } '
                       'properties { key: "split" value: STRING } properties { key: "rows" value: INT } }')
    with pytest.raises(CommandError, match="refused"):
        _load(evolved)
    out = _load(evolved, "--can-add-fields", "--dry-run")
    assert "updated   ArtifactType DataSet: added properties rows" in out and "dry run" in out
    assert "rows" not in call("GetArtifactType", type_name="DataSet").artifact_type.properties
    out = _load(evolved, "--can-add-fields")
    assert "updated   ArtifactType DataSet: added properties rows" in out
    assert "rows" in call("GetArtifactType", type_name="DataSet").artifact_type.properties


def test_conflicting_data_type_is_refused_even_with_flags(types_file: Path, tmp_path: Path, db: None) -> None:
    _load(types_file)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({"artifactTypes": [{"name": "DataSet", "properties": {"day": "STRING", "split": "STRING"}}]}))
    with pytest.raises(CommandError, match="refused"):
        _load(changed, "--can-add-fields", "--can-omit-fields")


def test_export_then_load_elsewhere_round_trips(types_file: Path, tmp_path: Path, db: None) -> None:
    _load(types_file)
    for fmt in types_io.FORMATS:
        out = io.StringIO()
        call_command("export_types", "--format", fmt, stdout=out)
        text = out.getvalue()
        if fmt == types_io.JSON:
            assert json.loads(text)["artifact_types"][0]["name"] == "Model"
        else:
            assert text.startswith("# proto-file: ml_metadata/proto/metadata_store_service.proto")
        assert '"id"' not in text and "\nid:" not in text and " id: " not in text
        request = types_io.parse_types(text, fmt)
        assert [t.name for t in request.artifact_types] == ["Model", "DataSet"]
        assert request.artifact_types[0].base_type == pb.ArtifactType.MODEL
        report = types_io.load_types(request)
        assert {o.status for o in report.outcomes} == {"unchanged"}
    call_command("export_types", "-o", str(tmp_path / "out.textproto"), stderr=io.StringIO())
    assert types_io.parse_types((tmp_path / "out.textproto").read_text()) == types_io.parse_types(types_io.export_types())


def test_bad_files_say_what_is_wrong(tmp_path: Path, db: None) -> None:
    with pytest.raises(InvalidArgument, match="declares no types"):
        types_io.parse_types("# nothing\n")
    with pytest.raises(InvalidArgument, match=r"types.txt is not a PutTypesRequest in textproto.*2:"):
        types_io.parse_types('artifact_types { name: "A" }\nartifact_type { name: "B" }\n', filename="types.txt")
    with pytest.raises(InvalidArgument, match="is not a PutTypesRequest in json"):
        types_io.parse_types('{"artifact_types": [{"nam": "A"}]}')
    bad = tmp_path / "bad.textproto"
    bad.write_text('artifact_types { name: "A" properties { key: "x" value: NUMBER } }')
    with pytest.raises(CommandError, match="NUMBER"):
        _load(bad)
    with pytest.raises(CommandError, match="Cannot read"):
        _load(tmp_path / "missing.textproto")
