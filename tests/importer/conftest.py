"""Fixtures of the import/export tests: one realistic ml-metadata source per session, and file-backed stores.

The source database is built once by the real ml-metadata 1.17.1
(``scripts/mlmd_reference.py build``) and only ever read; every test copies
into its own store file, opened through our in-process ``MetadataStore`` (its
own Django alias, so the import runs with real transactions, as the command
does in production).
"""
from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.importer.helpers import import_into
from tests.importer.reference import ensure_mlmd_python, open_store, our_dump, reference_dump, run_reference


@pytest.fixture(scope="session")
def mlmd_python() -> Path:
    return ensure_mlmd_python()


@pytest.fixture(scope="session")
def source_db(mlmd_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store written by ml-metadata 1.17.1: five pipeline runs (the last one failed) and more."""
    path = tmp_path_factory.mktemp("mlmd-source") / "source.sqlite"
    run_reference(mlmd_python, "build", str(path), "--runs", "5")
    return path


@pytest.fixture(scope="session")
def source_dump(mlmd_python: Path, source_db: Path) -> dict[str, Any]:
    """ml-metadata's own answers on the source."""
    return reference_dump(mlmd_python, str(source_db))


@pytest.fixture()
def source_copy(source_db: Path, tmp_path: Path) -> Path:
    """A private copy of the source, for tests that change it."""
    path = tmp_path / "source-copy.sqlite"
    shutil.copyfile(source_db, path)
    return path


@pytest.fixture()
def db_files(django_db_blocker: Any) -> Iterator[None]:
    """Let a test open store files of its own (pytest-django blocks databases otherwise)."""
    with django_db_blocker.unblock():
        yield


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def imported(source_db: Path, tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """The source imported once into an empty store file, shared read-only by the tests."""
    tmp = tmp_path_factory.mktemp("imported")
    target = tmp / "store.sqlite3"
    with django_db_blocker.unblock():
        before = file_digest(source_db)
        neighbours = sorted(p.name for p in source_db.parent.iterdir())
        run = import_into(target, source_db, "--batch-size", "5", tmp=tmp)
        with open_store(target, read_only=True) as store:
            dump = our_dump(store)
        yield {
            "target": target,
            "run": run,
            "dump": dump,
            "source_unchanged": file_digest(source_db) == before
            and sorted(p.name for p in source_db.parent.iterdir()) == neighbours,
        }
