"""Fixtures shared by the whole test suite.

Named users (see ``tests.base``): ``users`` makes all three; ``superuser``,
``staff_user`` and ``reader_user`` are one each, and ``superuser_client``,
``staff_client`` and ``reader_client`` are test clients logged in as them.
(pytest-django's own ``admin_user``/``admin_client`` also create a user called
"admin": use one family or the other in a test, not both.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import signals
from django.db import close_old_connections
from django.test import Client

from tests.base import NamedUsers, create_named_users


@pytest.fixture
def users(db: None, settings: Any) -> NamedUsers:
    # Hashing three passwords with the production hasher costs about a second per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return create_named_users()


@pytest.fixture
def superuser(users: NamedUsers) -> User:
    return users.admin


@pytest.fixture
def staff_user(users: NamedUsers) -> User:
    return users.staff


@pytest.fixture
def reader_user(users: NamedUsers) -> User:
    return users.reader


@pytest.fixture
def superuser_client(users: NamedUsers) -> Client:
    client = Client()
    client.force_login(users.admin)
    return client


@pytest.fixture
def staff_client(users: NamedUsers) -> Client:
    client = Client()
    client.force_login(users.staff)
    return client


@pytest.fixture
def reader_client(users: NamedUsers) -> Client:
    client = Client()
    client.force_login(users.reader)
    return client


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """For tests that call the raw WSGI handler (schemathesis): keep the test's transaction.

    The handler closes "stale" connections per request, which would end the
    test's transaction; django.request is quieted too, as it logs a warning for
    each of the thousands of 4xx answers.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    request_logger = logging.getLogger("django.request")
    level = request_logger.level
    request_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        request_logger.setLevel(level)
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
