"""Open the database an MLMD ``ConnectionConfig`` names, as a Django alias.

MLMD's server takes its database from ``MetadataStoreServerConfig.connection_config``
instead of the site's ``DATABASE_URL``.  We register that database as an extra
Django alias (the services run on it through ``store.db.using``) and bring its
schema up to date with Django's migrations.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.conf import settings
from django.core.management import call_command
from django.db import OperationalError, connections
from django.db.migrations.executor import MigrationExecutor

from mlmdsite.env import sqlite_database
from store import db
from store.proto import metadata_store_pb2 as pb
from store.services.errors import InvalidArgument, Unimplemented

logger = logging.getLogger("store.grpc")

def register_connection(config: pb.ConnectionConfig) -> str:
    """Register the database of ``config`` as a Django alias and return the alias.

    The alias is derived from the config, so registering the same config twice
    gives the same alias and one set of connections.
    """
    database = database_settings(config)
    digest = hashlib.sha256(config.SerializeToString(deterministic=True)).hexdigest()[:12]
    alias = f"mlmd_{digest}"
    if alias not in connections.settings:
        settings.DATABASES[alias] = database
        # Fill in Django's defaults (TIME_ZONE, AUTOCOMMIT, TEST, ...) as at startup.
        connections.settings[alias] = connections.configure_settings({"default": {}, alias: database})[alias]
    return alias


def database_settings(config: pb.ConnectionConfig) -> dict[str, Any]:
    """Django ``DATABASES`` settings for an MLMD connection config."""
    which = config.WhichOneof("config")
    if which == "sqlite":
        return _sqlite_settings(config.sqlite)
    if which == "fake_database":
        return _sqlite_settings(pb.SqliteMetadataSourceConfig())
    if which == "mysql":
        return _mysql_settings(config.mysql)
    if which == "postgresql":
        raise Unimplemented("PostgreSQL is not supported by this store; use SQLite or MySQL/MariaDB.")
    raise InvalidArgument("connection_config names no database: set sqlite, mysql or fake_database.")


def _sqlite_settings(config: pb.SqliteMetadataSourceConfig) -> dict[str, Any]:
    """The same mapping as the in-process store's, but for an in-memory database."""
    from store.metadata_store import sqlite_settings, sqlite_uri

    if config.filename_uri in ("", ":memory:"):
        # MLMD opens an in-memory database.  A server's worker threads each hold
        # their own connection, and separate in-memory databases per thread would
        # lose data between calls, so use a private file removed at exit instead.
        return sqlite_database(_ephemeral_sqlite_file(), mode="rwc")
    return sqlite_settings(sqlite_uri(config.filename_uri, config.connection_mode))


def _ephemeral_sqlite_file() -> str:
    handle, path = tempfile.mkstemp(prefix="mlmd-ephemeral-", suffix=".sqlite3")
    os.close(handle)
    atexit.register(_remove_sqlite_files, path)
    return path


def _remove_sqlite_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", ".migrate-lock"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


def _mysql_settings(config: pb.MySQLDatabaseConfig) -> dict[str, Any]:
    """The same mapping as the in-process store's (an empty host is the local server's socket, as in MLMD)."""
    from store.metadata_store import mysql_settings

    if not config.database:
        raise InvalidArgument("connection_config.mysql.database is required.")
    return mysql_settings(config)


def describe(alias: str) -> str:
    """The database of ``alias`` for a log line, without credentials."""
    database = connections.settings[alias]
    engine = str(database["ENGINE"]).rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite {database['NAME']}"
    host = database.get("HOST") or (database.get("OPTIONS") or {}).get("unix_socket", "")
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"{engine} {database.get('USER', '')}@{host}{port}/{database['NAME']}"


def has_unapplied_migrations(alias: str) -> bool:
    executor = MigrationExecutor(connections[alias])
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def migrate_if_needed(alias: str) -> bool:
    """Bring the schema of ``alias`` up to date; True when migrations were applied.

    The server must work on a fresh database (a new ``DATABASE_URL`` or the
    SQLite file of an MLMD config), as MLMD's own server creates its schema.
    Several servers started at once on one empty database (replicas, a
    restarted deployment) would each run the same migrations and trip over
    each other's tables, so migrating is serialized by a lock on the database
    and the plan is checked again once the lock is held: the first process
    migrates, the others find nothing left to do.
    """
    if not has_unapplied_migrations(alias):
        return False
    with migration_lock(alias):
        if not has_unapplied_migrations(alias):
            return False
        logger.info("Applying migrations to %s", describe(alias))
        # Inside using(): the store router sends store models to the selected alias,
        # so a data migration's ORM queries land on the database being migrated.
        with db.using(alias):
            call_command("migrate", database=alias, interactive=False, verbosity=0)
    return True


# Longest wait for another process's migrations; a first migration takes seconds.
MIGRATION_LOCK_TIMEOUT_SECONDS = 300


@contextlib.contextmanager
def migration_lock(alias: str, timeout: float = MIGRATION_LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold, across processes, the right to migrate the database of ``alias``.

    SQLite: an exclusive ``flock`` on a file next to the database (SQLite itself
    cannot be locked across a whole ``migrate``, which commits many times).
    MySQL/MariaDB: the server's named lock ``GET_LOCK``, on a connection of its
    own so that the migrations' connection may come and go; the server frees it
    if the process dies.
    """
    database = connections.settings[alias]
    vendor = str(database["ENGINE"]).rsplit(".", 1)[-1]
    if vendor == "sqlite3":
        path = _sqlite_path(str(database["NAME"]))
        if path is None:  # in memory: private to this process
            yield
            return
        with _file_lock(f"{path}.migrate-lock", timeout, describe(alias)):
            yield
        return
    with _named_lock(alias, timeout):
        yield


def _sqlite_path(name: str) -> str | None:
    """The file behind an SQLite ``NAME`` (a path or a ``file:`` URI); None in memory."""
    if name.startswith("file:"):
        parts = urlsplit(name)
        if dict(parse_qsl(parts.query)).get("mode") == "memory":
            return None
        name = unquote(parts.path)
    if not name or name == ":memory:":
        return None
    return os.path.abspath(name)


@contextlib.contextmanager
def _file_lock(path: str, timeout: float, what: str) -> Iterator[None]:
    import fcntl

    deadline = time.monotonic() + timeout
    with open(path, "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OperationalError(
                        f"another process has been migrating {what} for over {timeout:.0f} s ({path})"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _named_lock(alias: str, timeout: float) -> Iterator[None]:
    database_name = str(connections.settings[alias]["NAME"])
    # A name per database (MySQL limits it to 64 characters), so that servers of
    # different databases on one MySQL server do not wait for each other.
    name = f"mlmd_migrate:{hashlib.sha256(database_name.encode()).hexdigest()[:40]}"
    lock_connection = connections.create_connection(alias)
    try:
        with lock_connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, %s)", [name, int(timeout)])
            (acquired,) = cursor.fetchone()
        if acquired != 1:
            raise OperationalError(f"another process has been migrating {describe(alias)} for over {timeout:.0f} s")
        try:
            yield
        finally:
            with lock_connection.cursor() as cursor:
                cursor.execute("SELECT RELEASE_LOCK(%s)", [name])
    finally:
        lock_connection.close()
