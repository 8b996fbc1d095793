"""Strict readers for settings taken from the environment.

A value that is present but malformed raises ImproperlyConfigured instead of
silently falling back to a default; a secret may be given as ``NAME_FILE``
pointing at a file that holds it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    """Return ``name`` from the environment, or the content of ``name_FILE``."""
    if name in os.environ:
        return os.environ[name]
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    if required:
        raise ImproperlyConfigured(f"The environment variable {name} is required.")
    return default


def envbool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use one of 1/0, true/false, yes/no, on/off).")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from exc


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# SQLite's synchronous levels that keep a committed transaction through a crash of the process.
_SQLITE_SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")


def sqlite_database(path: str, *, mode: str = "rwc") -> dict[str, Any]:
    """Django settings for an SQLite file, tuned for many concurrent writers.

    WAL lets readers run beside the single writer; ``IMMEDIATE`` transactions take
    the write lock up front so two writers never deadlock upgrading a read lock;
    the busy timeout makes a writer wait for the lock instead of failing at once.

    ``synchronous=FULL`` (the default) syncs the WAL at every commit: an
    acknowledged write survives a crash of the process, of the OS and a power
    cut.  ``MLMD_SQLITE_SYNCHRONOUS=NORMAL`` syncs only at checkpoints: still
    safe from a killed process (``kill -9``) and never corrupt, but a power cut
    or OS crash may lose the last acknowledged commits.

    Connections are kept for the life of their thread (a gRPC worker, a web
    worker): opening one (and running these pragmas) cost more than the request.
    Each keeps at most 16 MiB of pages of its own; the OS caches the file for all.

    A read-only URI (``mode=ro``) can neither switch to WAL nor take a write
    lock: it keeps the file's journal mode and begins plain DEFERRED transactions.
    """
    if path == ":memory:" or path.startswith("file:"):
        name = path
    else:
        name = f"file:{Path(path).absolute()}?mode={mode}"
    read_only = dict(parse_qsl(name.partition("?")[2])).get("mode") == "ro"
    synchronous = (envstr("MLMD_SQLITE_SYNCHRONOUS") or "FULL").strip().upper()
    if synchronous not in _SQLITE_SYNCHRONOUS:
        raise ImproperlyConfigured(
            f"MLMD_SQLITE_SYNCHRONOUS={synchronous!r} is not one of {', '.join(_SQLITE_SYNCHRONOUS)}"
            " (OFF would let a crash corrupt the store)."
        )
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "OPTIONS": {
            "transaction_mode": "DEFERRED" if read_only else "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                ("" if read_only else "PRAGMA journal_mode=WAL;")
                + f"PRAGMA synchronous={synchronous};"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA cache_size=-16384;"
                "PRAGMA temp_store=MEMORY;"
                "PRAGMA busy_timeout=30000;"
            ),
        },
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": False,
    }


# Longest wait for a row lock on MySQL/MariaDB before the statement fails (and the request is retried).
MYSQL_LOCK_WAIT_SECONDS = 20


def mysql_database(
    *,
    host: str = "127.0.0.1",
    port: int | str | None = 3306,
    name: str,
    user: str = "",
    password: str = "",
    socket: str = "",
    ssl: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Django settings for a MySQL or MariaDB database (mysqlclient driver).

    utf8mb4 so that any name fits; strict mode so that a value that does not
    fit is an error instead of being cut; InnoDB for transactions and row
    locks; READ COMMITTED so that a writer that lost a uniqueness race sees the
    winner's row (MLMD's reuse of contexts by name) and takes fewer gap locks
    (fewer deadlocks between concurrent writers).  A lock is waited for at most
    ``MYSQL_LOCK_WAIT_SECONDS``: a request that waits longer is retried (see
    store.services.retry) instead of hanging for InnoDB's default 50 s.

    The backend is Django's, with case-insensitive lookups kept
    case-insensitive on the store's binary-collated tables (store.backends.mysql).
    Connections are reused for a minute and checked before reuse, so a
    connection the server closed (wait_timeout, a restart) is replaced.
    """
    options: dict[str, Any] = {
        "charset": "utf8mb4",
        "init_command": (
            "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
            f"NO_ENGINE_SUBSTITUTION', default_storage_engine=InnoDB, innodb_lock_wait_timeout={MYSQL_LOCK_WAIT_SECONDS}"
        ),
        "isolation_level": "read committed",
    }
    if socket:
        options["unix_socket"] = socket
    if ssl:
        options["ssl"] = ssl
    if extra:
        options.update(extra)
    return {
        "ENGINE": "store.backends.mysql",
        "HOST": "" if socket else host,
        "PORT": "" if socket else str(port or ""),
        "NAME": name,
        "USER": user,
        "PASSWORD": password,
        "OPTIONS": options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # The test database gets the server's default collation, as a database
        # made by hand would: migration 0002 makes the store's tables binary.
        "TEST": {"CHARSET": "utf8mb4"},
    }


def database_from_url(url: str) -> dict[str, Any]:
    """Parse ``sqlite:////abs/path.db``, ``sqlite:///rel.db``, ``sqlite://:memory:``
    or ``mysql://user:pass@host:port/db?ssl-ca=...`` into Django DATABASES settings."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if url in ("sqlite://", "sqlite://:memory:", "sqlite:///:memory:"):
            return sqlite_database(":memory:")
        path = url[len("sqlite://"):]
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no SQLite file.")
        return sqlite_database(path)
    if scheme in ("mysql", "mariadb"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL={_redact(url)!r} names no database (mysql://user:pass@host:port/db).")
        query = dict(parse_qsl(parts.query))
        ssl = {k[len("ssl-"):]: v for k, v in query.items() if k.startswith("ssl-")}
        try:
            port = parts.port or 3306
        except ValueError as exc:
            raise ImproperlyConfigured(f"DATABASE_URL={_redact(url)!r} has a bad port.") from exc
        return mysql_database(
            host=parts.hostname or "127.0.0.1",
            port=port,
            name=name,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            socket=query.get("socket", ""),
            ssl=ssl or None,
        )
    raise ImproperlyConfigured(
        f"DATABASE_URL={_redact(url)!r}: unsupported scheme {scheme!r}; use sqlite:////abs/path.db or mysql://user:pass@host:port/db."
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
