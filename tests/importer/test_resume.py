"""An import killed half-way and resumed ends exactly like an uninterrupted one."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError

from store.db import using
from store.mlmd_schema import ImportOptions, ImportRefused, MlmdImporter, MlmdSource
from store.models import Artifact, MlmdImport
from tests.importer.helpers import import_into, manage_env, run_command
from tests.importer.reference import REPO_ROOT, first_difference, open_store, our_dump

HELPER = Path(__file__).resolve().parent / "interrupted_import.py"


def test_killed_import_resumes_without_duplicates(source_db: Path, tmp_path: Path, db_files: None) -> None:
    straight = tmp_path / "straight.sqlite3"
    uninterrupted = import_into(straight, source_db, "--batch-size", "4", tmp=tmp_path).report

    resumed_store = tmp_path / "resumed.sqlite3"
    with open_store(resumed_store):
        pass  # the schema, created by our MetadataStore as for any new file
    # Killed while the third batch of executions is written, after artifacts were committed.
    killed = subprocess.run(
        [sys.executable, str(HELPER), "executions", "3", "--", "--sqlite", str(source_db), "--batch-size", "4", "--no-progress"],
        cwd=REPO_ROOT,
        env=manage_env(resumed_store),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]

    with open_store(resumed_store) as store, using(store.database_alias):
        run = MlmdImport.objects.get()
        assert run.finished is None
        assert run.progress["types"] == "done" and run.progress["artifacts"] > 0
        assert run.progress["executions"] == 8  # two batches of 4 committed, the third lost
        assert Artifact.objects.count() == uninterrupted["counts"][3]["source"]
        # Without --resume the interrupted import is not started over.
        with pytest.raises(CommandError, match="--resume"):
            run_command(store, "import_mlmd", "--sqlite", str(source_db), "--no-progress")
        resumed = run_command(
            store, "import_mlmd", "--sqlite", str(source_db), "--batch-size", "4", "--resume", "--no-progress",
            report_file=tmp_path / "resumed.json",
        )
        assert "Resuming import #" in resumed.stdout
        assert resumed.report == uninterrupted, first_difference(uninterrupted, resumed.report)
        assert resumed.report["ok"]
        with pytest.raises(CommandError, match="Nothing to resume"):
            run_command(store, "import_mlmd", "--sqlite", str(source_db), "--resume", "--no-progress")
        with pytest.raises(CommandError, match="already imported"):
            run_command(store, "import_mlmd", "--sqlite", str(source_db), "--no-progress")
        resumed_dump = our_dump(store)
    with open_store(straight, read_only=True) as store:
        assert resumed_dump == our_dump(store)


def test_resume_refuses_a_source_that_changed(source_copy: Path, mlmd_python: Path, tmp_path: Path, db_files: None) -> None:
    target = tmp_path / "store.sqlite3"
    with open_store(target) as store:
        killed = subprocess.run(
            [sys.executable, str(HELPER), "artifacts", "2", "--", "--sqlite", str(source_copy), "--batch-size", "3", "--no-progress"],
            cwd=REPO_ROOT, env=manage_env(target), capture_output=True, text=True, timeout=300,
        )
        assert killed.returncode == -9, killed.stderr[-2000:]
        with sqlite3.connect(source_copy) as connection:
            # What ml-metadata does on an update: stamp the row with the current time.
            connection.execute(
                "UPDATE Artifact SET state = 4, last_update_time_since_epoch = "
                "(SELECT MAX(last_update_time_since_epoch) + 1000 FROM Artifact) WHERE id = 1"
            )
        with pytest.raises(CommandError, match="changed since import #1 started"):
            run_command(store, "import_mlmd", "--sqlite", str(source_copy), "--resume", "--no-progress")


def test_two_processes_never_both_copy_a_batch(source_db: Path, tmp_path: Path, db_files: None) -> None:
    """Another process commits a batch of the same import between two of ours: ours stops, writing nothing more."""
    target = tmp_path / "store.sqlite3"
    with open_store(target) as store, using(store.database_alias):
        importer = MlmdImporter(MlmdSource.sqlite(str(source_db)), ImportOptions(batch_size=4, progress=False), log=str)
        fetch = importer.source.fetch
        artifact_batches = 0

        def fetch_and_race(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            nonlocal artifact_batches
            if "FROM `Artifact` WHERE `id` > ?" in sql:
                artifact_batches += 1
                if artifact_batches == 2:
                    with sqlite3.connect(target) as other:  # the other process commits its batch
                        other.execute("UPDATE store_mlmdimport SET batches = batches + 1")
            return fetch(sql, params)

        importer.source.fetch = fetch_and_race  # type: ignore[method-assign]
        with pytest.raises(ImportRefused, match="Another process is importing"):
            importer.run_import()
        run = MlmdImport.objects.get()
        assert run.progress["artifacts"] == 4 and Artifact.objects.count() == 4
        importer.source.close()
