"""A real MySQL/MariaDB server for the tests of this folder.

The server is the one of ``DATABASE_URL`` when that is a mysql:// URL, else
the throwaway MariaDB of ``scripts/mariadb.sh`` (installed and started on
first use).  When neither is possible the tests are skipped, except in CI
(``CI`` set), where they fail: CI must run them.

Each test session gets its own database on that server,
``test_mlmd_mysql_<pid>``, migrated once and dropped at the end, reached
through the connection alias ``MYSQL`` (the store's services follow
``store.db.using(MYSQL)``).  Tests that write commit for real (no wrapping
transaction, so that the transparent retry and other processes see them) and
clean up with the ``mysql_db`` fixture, which empties the store's tables
after each test.  Worker processes reach the same database with
``mysql_url``.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connections

from mlmdsite.env import database_from_url

MYSQL = "mysql_tests"
ROOT = Path(__file__).resolve().parents[2]
# Children first, so that emptying them one by one never trips a foreign key.
STORE_TABLES = (
    "store_event",
    "store_attribution",
    "store_association",
    "store_parentcontext",
    "store_artifactproperty",
    "store_executionproperty",
    "store_contextproperty",
    "store_artifact",
    "store_execution",
    "store_context",
    "store_parenttype",
    "store_typeproperty",
    "store_type",
)


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme in ("mysql", "mariadb"):
        return url
    try:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "mariadb.sh"), "url"],
            capture_output=True, text=True, timeout=900, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = f"scripts/mariadb.sh could not be run: {exc}"
    else:
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[-1]
        problem = f"scripts/mariadb.sh url failed: {done.stderr.strip()[-600:]}"
    reason = f"no MySQL/MariaDB server: DATABASE_URL is not mysql:// and {problem}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def throwaway_mariadb(command: str, datadir: Path, *args: str) -> str:
    """``scripts/mariadb.sh COMMAND --datadir DATADIR ARGS``: a server of a test's own; its stdout.

    Skipped when it cannot run, except in CI (``CI`` set), where that fails the test.
    """
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mariadb.sh"), command, "--datadir", str(datadir), *args],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if done.returncode != 0:
        reason = f"scripts/mariadb.sh {command} failed: {done.stderr.strip()[-600:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return done.stdout.strip()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _register(alias: str, settings: dict[str, Any]) -> None:
    from django.db import DEFAULT_DB_ALIAS

    complete = connections.configure_settings({DEFAULT_DB_ALIAS: {"ENGINE": "django.db.backends.dummy"}, alias: settings})
    connections.settings[alias] = complete[alias]


def _unregister(alias: str) -> None:
    if alias in connections.settings:
        connections[alias].close()
        connections.settings.pop(alias, None)
        with contextlib.suppress(AttributeError):
            del connections[alias]


@pytest.fixture(scope="session")
def mysql_url(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """The URL of this session's migrated test database (created here, dropped at the end)."""
    from django.core.management import call_command

    from store.db import using

    server = _server_url()
    name = f"test_mlmd_mysql_{os.getpid()}"
    admin_settings = database_from_url(server)
    admin_settings["NAME"] = ""
    with django_db_blocker.unblock():
        _register("mysql_tests_admin", admin_settings)
        try:
            with connections["mysql_tests_admin"].cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                # The server's default collation, as for a database made by hand: the
                # migrations must make the store's strings exact by themselves.
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            url = _with_database(server, name)
            _register(MYSQL, database_from_url(url))
            with using(MYSQL):
                call_command("migrate", database=MYSQL, interactive=False, verbosity=0)
            yield url
        finally:
            _unregister(MYSQL)
            with connections["mysql_tests_admin"].cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            _unregister("mysql_tests_admin")


@pytest.fixture
def mysql_db(mysql_url: str, django_db_blocker: Any) -> Iterator[str]:
    """The ``MYSQL`` alias, selected for the store's services, with empty store tables afterwards."""
    from store.db import using

    with django_db_blocker.unblock():
        if MYSQL not in connections.settings:  # pragma: no cover - re-registered after a test removed it
            _register(MYSQL, database_from_url(mysql_url))
        try:
            with using(MYSQL):
                yield MYSQL
        finally:
            empty_store_tables()


def empty_store_tables() -> None:
    with connections[MYSQL].cursor() as cursor:
        for table in STORE_TABLES:
            cursor.execute(f"DELETE FROM {table}")
