"""Which database a store operation runs on.

The site uses the ``default`` alias.  An in-process ``MetadataStore`` opened on
another connection (a fake database, another SQLite file, a MySQL server) gets
its own alias; the services run inside ``using(alias)`` so that every ORM query
and transaction of that call goes to the right database, per thread.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.db import connections, transaction

_current_alias: ContextVar[str] = ContextVar("mlmd_db_alias", default="default")
# The alias's connection wrapper for this thread, looked up once per using() block:
# ``connections[alias]`` goes through a thread-local lookup that cost about a tenth
# of a PutExecution when each of its statements repeated it.
_current_connection: ContextVar[Any] = ContextVar("mlmd_db_connection", default=None)


def current_alias() -> str:
    return _current_alias.get()


def current_connection() -> Any:
    """Django's connection wrapper of the current alias (on this thread)."""
    wrapper = _current_connection.get()
    return connections[_current_alias.get()] if wrapper is None else wrapper


@contextlib.contextmanager
def using(alias: str) -> Iterator[str]:
    token = _current_alias.set(alias)
    connection_token = _current_connection.set(connections[alias])
    try:
        yield alias
    finally:
        _current_connection.reset(connection_token)
        _current_alias.reset(token)


def atomic() -> Any:
    """A transaction on the current store database."""
    return transaction.atomic(using=current_alias())


class StoreRouter:
    """Send the store app's queries to the alias selected by ``using()``."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        if model._meta.app_label == "store":
            return _current_alias.get()
        return None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        if model._meta.app_label == "store":
            return _current_alias.get()
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return None
