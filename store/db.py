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

from django.db import transaction

_current_alias: ContextVar[str] = ContextVar("mlmd_db_alias", default="default")


def current_alias() -> str:
    return _current_alias.get()


@contextlib.contextmanager
def using(alias: str) -> Iterator[str]:
    token = _current_alias.set(alias)
    try:
        yield alias
    finally:
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
