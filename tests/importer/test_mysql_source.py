"""``import_mlmd --mysql``: a MySQL database written by ml-metadata 1.17.1 itself (as behind Kubeflow Pipelines).

The server is the throwaway MariaDB of ``scripts/mariadb.sh`` (as for
tests/mysql); the test is skipped when there is none, except in CI, where it
fails.  ml-metadata writes its own database there; the store it is imported
into is an SQLite file, as anywhere else in these tests.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.importer.helpers import run_command
from tests.importer.reference import (
    REPO_ROOT,
    first_difference,
    open_store,
    our_dump,
    reference_dump,
    run_reference,
    without_known_divergences,
)


def _server_url() -> str:
    try:
        done = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "mariadb.sh"), "url"], capture_output=True, text=True, timeout=900
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    else:
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[-1]
        problem = done.stderr.strip()[-600:]
    reason = f"no MariaDB server from scripts/mariadb.sh: {problem}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture()
def mysql_source(mlmd_python: Path) -> Iterator[str]:
    """A fresh database on the server, written by ml-metadata; dropped afterwards."""
    import MySQLdb

    server = urlsplit(_server_url())
    name = f"mlmd_import_source_{os.getpid()}"
    admin: Any = MySQLdb.connect(
        host=server.hostname, port=server.port or 3306, user=server.username, passwd=server.password or ""
    )
    try:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.cursor().execute(f"CREATE DATABASE `{name}`")
        url = server._replace(path=f"/{name}").geturl()
        run_reference(mlmd_python, "build", url, "--runs", "3")
        yield url
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_import_from_mysql_answers_like_ml_metadata(
    mysql_source: str, mlmd_python: Path, tmp_path: Path, db_files: None
) -> None:
    theirs = reference_dump(mlmd_python, mysql_source)
    target = tmp_path / "store.sqlite3"
    with open_store(target) as store:
        run = run_command(
            store, "import_mlmd", "--mysql", mysql_source, "--batch-size", "5", "--no-progress",
            report_file=tmp_path / "report.json",
        )
        ours = our_dump(store)
    assert run.report is not None and run.report["ok"], run.stdout
    assert "mlmd:***@" in run.report["source"]  # the password is never recorded
    # Non-ASCII text survives ml-metadata's Latin-1 connection.
    assert any("ünïcode ✓" in str(a.get("properties")) for a in theirs["artifacts"])
    assert without_known_divergences(ours) == without_known_divergences(theirs), first_difference(
        without_known_divergences(theirs), without_known_divergences(ours)
    )
