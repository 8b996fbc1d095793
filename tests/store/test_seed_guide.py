"""The seed guide's code runs on this store: in-process and as a plain script."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = HERE / "seed_guide_script.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("seed_guide_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seed = _load_script()


@pytest.fixture
def db_access(django_db_blocker):
    """The stores open their own database aliases; let them connect."""
    with django_db_blocker.unblock():
        yield


def _check_summary(summary: dict) -> None:
    assert summary["artifact_count"] == 2
    assert summary["event_count"] == 2
    assert summary["execution_state"] == "COMPLETED"
    assert summary["experiment_artifact_ids"] == [summary["model_artifact_id"]]
    assert summary["experiment_execution_ids"] == [summary["run_id"]]
    assert len(set(summary["artifact_type_ids"].values())) == 2


def test_guide_on_fake_database(db_access):
    _check_summary(seed.run(seed.fake_database_config()))


def test_guide_on_sqlite_file(db_access, tmp_path):
    path = tmp_path / "guide.sqlite"
    summary = seed.run(seed.sqlite_config(str(path)))
    _check_summary(summary)
    assert path.exists()


def test_guide_twice_on_fake_databases_starts_from_scratch(db_access):
    # Each fake database is private: the second run sees none of the first one's nodes.
    first = seed.run(seed.fake_database_config())
    second = seed.run(seed.fake_database_config())
    assert first == second


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE" and k != "PYTHONPATH"}
    return env


def _run_script(*args: str, cwd: Path) -> dict:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_guide_as_a_script_without_django_configured_fake(tmp_path):
    _check_summary(_run_script(cwd=tmp_path))


@pytest.mark.slow
def test_guide_as_a_script_without_django_configured_sqlite(tmp_path):
    path = tmp_path / "script.sqlite"
    summary = _run_script(str(path), cwd=tmp_path)
    _check_summary(summary)
    assert path.exists()
    # The file is a real, reusable store: another fresh interpreter reads it back.
    code = (
        "import sys; sys.path.insert(0, sys.argv[2])\n"
        "from store import metadata_store\n"
        "from store.proto import metadata_store_pb2\n"
        "c = metadata_store_pb2.ConnectionConfig()\n"
        "c.sqlite.filename_uri = sys.argv[1]\n"
        "c.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY\n"
        "s = metadata_store.MetadataStore(c)\n"
        "print(sorted(a.uri for a in s.get_artifacts()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(REPO)],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['path/to/data', 'path/to/model/file']"
