"""manage.py create_api_token USER [--writer] [--rotate] [--create-user]."""
from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from store.api.permissions import WRITERS_GROUP


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_token_for_a_reader_then_a_writer(db: None) -> None:
    User.objects.create_user("ci")
    token, _ = run("ci")
    assert Token.objects.get(user__username="ci").key == token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/artifacts").status_code == 200
    assert client.post("/api/v1/artifact-types", {"name": "X"}, format="json").status_code == 403
    again, message = run("ci", "--writer")
    assert again == token and WRITERS_GROUP in message
    assert client.post("/api/v1/artifact-types", {"name": "X"}, format="json").status_code == 201


def test_rotate_replaces_the_token(db: None) -> None:
    User.objects.create_user("ci")
    old, _ = run("ci")
    new, _ = run("ci", "--rotate")
    assert new != old
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.get("/api/v1/artifacts").status_code == 401


def test_unknown_user(db: None) -> None:
    with pytest.raises(CommandError, match="No user"):
        run("ghost")
    token, message = run("ghost", "--create-user", "--writer")
    assert len(token) == 40 and "Created user" in message
    assert not User.objects.get(username="ghost").has_usable_password()


def test_the_token_is_printed_alone(db: None, capsys: Any) -> None:
    User.objects.create_user("ci")
    out, err = run("ci")
    assert "\n" not in out and out not in err


def test_tokens_are_managed_in_the_admin(db: None) -> None:
    from django.test import Client

    admin = User.objects.create_superuser("boss", "boss@example.com", "pw")
    Token.objects.create(user=admin)
    client = Client()
    client.force_login(admin)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 200
    assert client.get("/admin/authtoken/tokenproxy/add/").status_code == 200
