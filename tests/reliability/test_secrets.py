"""Issue #10 item 9: tokens and passwords appear in no log and no answer.

Requests are made with the real secrets (REST token, session and admin
logins with the password, the gRPC bearer token) and with wrong ones, which
are secrets of their own (a mistyped password is often a real one).  Every
answer (status line, headers, body, gRPC details and metadata) and every log
record (all loggers at DEBUG, in the test process; the grpcserver subprocess
with all its loggers at DEBUG) is searched for each of those strings.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from store.api.permissions import WRITERS_GROUP
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import ServerProcess, running
from tests.reliability.conftest import sqlite_only

PASSWORD = f"pw-{secrets.token_hex(12)}"
WRONG_PASSWORD = f"pw-{secrets.token_hex(12)}"
WRONG_TOKEN = secrets.token_hex(20)  # the shape of a DRF token, but nobody's
GRPC_TOKEN = f"grpc-{secrets.token_urlsafe(24)}"
WRONG_GRPC_TOKEN = f"grpc-{secrets.token_urlsafe(24)}"


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG for every logger, including those that do not propagate to the root (store, lineage_ui)."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)] + [logging.getLogger()]
    saved = [(logger, logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for logger, level, _ in saved:
            logger.setLevel(level)
            if caplog.handler in logger.handlers and logger is not logging.getLogger():
                logger.removeHandler(caplog.handler)


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as formatted, plus its raw arguments and exception text."""
    parts = [caplog.text]
    for record in caplog.records:
        parts += [str(record.msg), repr(record.args), record.exc_text or "", str(getattr(record, "request", ""))]
    return "\n".join(parts)


def _answer(response: Any) -> str:
    headers = "\n".join(f"{key}: {value}" for key, value in response.items())
    cookies = "\n".join(morsel.OutputString() for morsel in response.cookies.values())
    return f"{response.status_code}\n{headers}\n{cookies}\n{response.content.decode(errors='replace')}"


@pytest.fixture
def accounts(db: None, settings: Any) -> dict[str, Any]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MLMD_ANONYMOUS_READ = False
    writer = User.objects.create_user("writer", "writer@example.com", PASSWORD)
    writer.groups.add(Group.objects.get_or_create(name=WRITERS_GROUP)[0])
    staff = User.objects.create_user("staff", "staff@example.com", PASSWORD, is_staff=True)
    return {"writer": writer, "staff": staff, "token": Token.objects.create(user=writer).key}


def test_rest_token_and_login_password_never_in_answers_or_logs(
    accounts: dict[str, Any], all_logs: pytest.LogCaptureFixture, figure: Callable[[str], None]
) -> None:
    token = accounts["token"]
    answers: list[str] = []
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    answers += [
        _answer(api.get("/api/v1/artifact-types")),
        _answer(api.post("/api/v1/artifact-types", {"name": "DataSet"}, format="json")),
        _answer(api.post("/api/v1/artifact-types", {"name": ""}, format="json")),  # 400
        _answer(api.post("/api/v1/artifacts", {"type": "NoSuchType"}, format="json")),  # 400 naming the type
        _answer(api.get("/api/v1/artifacts/999999999")),  # 404
        _answer(api.get("/api/v1/", HTTP_ACCEPT="text/html")),  # the browsable API shows the request
    ]
    codes = [int(answer.split("\n", 1)[0]) for answer in answers]
    assert codes == [200, 201, 400, 400, 404, 200]
    for header in (f"Token {WRONG_TOKEN}", f"Bearer {token}", f"Token {token} {token}", f"Token {token}x"):
        wrong = APIClient()
        wrong.credentials(HTTP_AUTHORIZATION=header)
        response = wrong.get("/api/v1/artifacts")
        assert response.status_code == 401, header
        answers.append(_answer(response))

    site = Client()
    for url in ("/accounts/login/", "/admin/login/"):
        for username, password in (("writer", WRONG_PASSWORD), ("nobody", PASSWORD), ("staff", WRONG_PASSWORD)):
            response = site.post(url, {"username": username, "password": password, "next": "/"})
            assert response.status_code == 200 and b"correct username and password" in response.content, url
            answers.append(_answer(response))
    logged_in = site.post("/accounts/login/", {"username": "writer", "password": PASSWORD})
    assert logged_in.status_code == 302
    answers += [_answer(logged_in), _answer(site.get("/")), _answer(site.get("/api/v1/artifact-types"))]
    admin = Client()
    admin_login = admin.post("/admin/login/?next=/admin/", {"username": "staff", "password": PASSWORD, "next": "/admin/"})
    assert admin_login.status_code == 302 and admin_login["Location"] == "/admin/"
    answers.append(_answer(admin_login))

    logs = _logged(all_logs)
    leaks = [
        f"{name} in {where}"
        for name, secret in (("token", token), ("wrong token", WRONG_TOKEN), ("password", PASSWORD),
                             ("wrong password", WRONG_PASSWORD))
        for where, text in (("an answer", "\n".join(answers)), ("the log", logs))
        if secret in text
    ]
    figure(
        f"{len(answers)} answers (token, wrong tokens, 8 logins with right and wrong passwords) and "
        f"{len(all_logs.records)} log records at DEBUG: {len(leaks)} leaks"
    )
    assert len(all_logs.records) > 0  # the logs were captured at all
    assert not leaks, leaks


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A grpcserver requiring GRPC_TOKEN, with every logger at DEBUG (settings module of its own)."""
    tmp = tmp_path_factory.mktemp("grpc-secrets")
    (tmp / "token").write_text(f"{GRPC_TOKEN}\n")
    (tmp / "debug_settings.py").write_text(
        "from mlmdsite.settings import *  # noqa: F403\n"
        "LOGGING = {**LOGGING, 'root': {'handlers': ['console'], 'level': 'DEBUG'},\n"
        "           'loggers': {name: {**config, 'level': 'DEBUG'} for name, config in LOGGING['loggers'].items()}}\n"
    )
    env = {
        "MLMD_GRPC_TOKEN_FILE": str(tmp / "token"),
        "DJANGO_SETTINGS_MODULE": "debug_settings",
        "PYTHONPATH": str(tmp),
        "GRPC_VERBOSITY": "DEBUG",
    }
    yield from running(tmp, env=env)


# The server runs on an SQLite file of its own whatever the default database is: one pass is enough.
@sqlite_only
def test_grpc_bearer_token_never_in_answers_or_the_server_log(
    token_server: ServerProcess, figure: Callable[[str], None]
) -> None:
    stub = token_server.stub()
    right = [("authorization", f"Bearer {GRPC_TOKEN}")]
    seen: list[str] = []
    codes: list[str] = []

    def call(method: str, request: Any, metadata: list[tuple[str, str]] | None) -> None:
        try:
            response, rpc = getattr(stub, method).with_call(request, timeout=30, metadata=metadata)
            codes.append("OK")
            seen.append(str(response))
        except grpc.RpcError as error:
            rpc = error
            codes.append(error.code().name)
            seen.append(error.details() or "")
        seen.append(repr(rpc.initial_metadata()) + repr(rpc.trailing_metadata()))

    call("PutArtifactType", svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name="DataSet")), right)
    call("GetArtifactTypes", svc.GetArtifactTypesRequest(), right)
    call("GetArtifactType", svc.GetArtifactTypeRequest(type_name="NoSuchType"), right)  # NOT_FOUND
    call("PutArtifacts", svc.PutArtifactsRequest(artifacts=[pb.Artifact(type_id=10**12)]), right)  # refused
    for metadata in (
        [("authorization", f"Bearer {WRONG_GRPC_TOKEN}")],
        [("authorization", f"Token {GRPC_TOKEN}")],
        [("authorization", f"Bearer {GRPC_TOKEN}x")],
        [("x-api-key", GRPC_TOKEN)],
        None,
    ):
        call("GetArtifactTypes", svc.GetArtifactTypesRequest(), metadata)
    assert codes[:2] == ["OK", "OK"]
    assert codes[2] == "NOT_FOUND" and codes[3] not in ("OK", "INTERNAL", "UNKNOWN")
    assert codes[4:] == ["UNAUTHENTICATED"] * 5
    log = token_server.log()
    assert "bearer token required" in log and " DEBUG " in log  # the log is there, at DEBUG
    leaks = [
        f"{name} in {where}"
        for name, secret in (("token", GRPC_TOKEN), ("wrong token", WRONG_GRPC_TOKEN))
        for where, text in (("an answer", "\n".join(seen)), ("the server log", log))
        if secret in text
    ]
    figure(
        f"{len(codes)} gRPC calls {codes}; server log {len(log.splitlines())} lines at DEBUG: {len(leaks)} leaks"
    )
    assert not leaks, leaks

