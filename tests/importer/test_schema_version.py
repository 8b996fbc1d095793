"""import_mlmd reads schema version 10 only, and says what to do with anything else."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from store.db import using
from store.models import MlmdImport
from tests.importer.helpers import run_command
from tests.importer.reference import open_store


def _import(target: Path, *args: str) -> None:
    with open_store(target) as store:
        try:
            run_command(store, "import_mlmd", *args, "--no-progress")
        finally:
            with using(store.database_alias):
                assert not MlmdImport.objects.exists()  # a refused source leaves no trace


@pytest.mark.parametrize(
    ("version", "advice"),
    [(9, "enable_upgrade_migration=True"), (7, "enable_upgrade_migration=True"), (11, "downgrade_schema")],
)
def test_other_schema_versions_are_refused(
    source_copy: Path, tmp_path: Path, db_files: None, version: int, advice: str
) -> None:
    with sqlite3.connect(source_copy) as connection:
        connection.execute("UPDATE MLMDEnv SET schema_version = ?", (version,))
    with pytest.raises(CommandError, match=f"schema version {version}") as refused:
        _import(tmp_path / "store.sqlite3", "--sqlite", str(source_copy))
    assert advice in str(refused.value)
    assert "version 10" in str(refused.value)


def test_a_file_that_is_not_an_ml_metadata_store_is_refused(tmp_path: Path, db_files: None) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(CommandError, match="is not an ml-metadata database"):
        _import(tmp_path / "store.sqlite3", "--sqlite", str(other))
    text = tmp_path / "notes.txt"
    text.write_text("hello" * 100)
    with pytest.raises(CommandError, match="cannot be read as an SQLite database"):
        _import(tmp_path / "store.sqlite3", "--sqlite", str(text))
    with pytest.raises(CommandError, match="no such file"):
        _import(tmp_path / "store.sqlite3", "--sqlite", str(tmp_path / "missing.sqlite"))


def test_mysql_source_errors_name_the_problem_without_the_password(tmp_path: Path, db_files: None) -> None:
    with pytest.raises(CommandError, match="is not a MySQL URL") as refused:
        _import(tmp_path / "store.sqlite3", "--mysql", "postgres://kfp:secret@db/x")
    assert "secret" not in str(refused.value)
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        with pytest.raises(CommandError, match="pip install mysqlclient"):
            _import(tmp_path / "store.sqlite3", "--mysql", "mysql://kfp:secret@localhost/metadb")
        return
    # A socket that does not exist: a connection error, no network involved.
    url = f"mysql://kfp:secret@localhost/metadb?unix_socket={tmp_path / 'no.sock'}"
    with pytest.raises(CommandError, match="Cannot connect to mysql://kfp:\\*\\*\\*@localhost") as refused:
        _import(tmp_path / "store.sqlite3", "--mysql", url)
    assert "secret" not in str(refused.value)
