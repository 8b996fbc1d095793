"""Fixtures shared by the whole test suite.

Named users (see ``tests.base``): ``users`` makes all three; ``superuser``,
``staff_user`` and ``reader_user`` are one each, and ``superuser_client``,
``staff_client`` and ``reader_client`` are test clients logged in as them.
(pytest-django's own ``admin_user``/``admin_client`` also create a user called
"admin": use one family or the other in a test, not both.)
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
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
