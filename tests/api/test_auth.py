"""Who may do what: anonymous / reader / writer / staff / superuser × every endpoint.

Readers are any authenticated user; writers are members of ``mlmd-writers``,
staff or superusers; the hard delete of a run is staff-only.  Anonymous users
read only when MLMD_ANONYMOUS_READ is on.  Also: CSRF on session writes,
write throttling, the body size limit, and that tokens never leak.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from store.api.permissions import WRITERS_GROUP
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api as core
from tests.api.helpers import assert_error

ROLES = ("anonymous", "reader", "writer", "staff", "superuser")


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: str
    access: str  # "read", "write" or "staff"
    ok: int
    body: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


ENDPOINTS = [
    Endpoint("get", "/api/v1/", "read", 200),
    *[
        e
        for kind in ("artifact-types", "execution-types", "context-types")
        for e in (Endpoint("get", f"/api/v1/{kind}", "read", 200), Endpoint("get", f"/api/v1/{kind}/{{{kind}}}", "read", 200))
    ],
    Endpoint("post", "/api/v1/artifact-types", "write", 201, {"name": "New"}),
    Endpoint("post", "/api/v1/execution-types", "write", 201, {"name": "New"}),
    Endpoint("post", "/api/v1/context-types", "write", 201, {"name": "New"}),
    Endpoint("patch", "/api/v1/artifact-types/{artifact-types}", "write", 200, {"properties": {"extra": "INT"}}),
    Endpoint("get", "/api/v1/artifacts", "read", 200),
    Endpoint("get", "/api/v1/artifacts/{artifact}", "read", 200),
    Endpoint("post", "/api/v1/artifacts", "write", 201, {"type": "DataSet", "uri": "s3://new"}),
    Endpoint("patch", "/api/v1/artifacts/{artifact}", "write", 200, {"uri": "s3://moved"}),
    Endpoint("delete", "/api/v1/artifacts/{artifact}", "write", 200),
    Endpoint("get", "/api/v1/artifacts/{artifact}/lineage", "read", 200),
    Endpoint("get", "/api/v1/executions", "read", 200),
    Endpoint("get", "/api/v1/executions/{execution}", "read", 200),
    Endpoint("post", "/api/v1/executions", "write", 201, {"type": "Trainer"}),
    Endpoint("patch", "/api/v1/executions/{execution}", "write", 200, {"state": "COMPLETE"}),
    Endpoint(
        "post",
        "/api/v1/executions/record",
        "write",
        201,
        {"execution": {"type": "Trainer"}, "inputs": [{"uri": "s3://d/1"}], "contexts": [{"type": "Experiment", "name": "x"}]},
    ),
    Endpoint("post", "/api/v1/executions/lookup", "read", 200, {"type": "Trainer", "inputs": [{"uri": "s3://d/1"}]}),
    Endpoint("get", "/api/v1/contexts", "read", 200),
    Endpoint("get", "/api/v1/contexts/{context}", "read", 200),
    Endpoint("post", "/api/v1/contexts", "write", 201, {"type": "Experiment", "name": "new"}),
    Endpoint("patch", "/api/v1/contexts/{context}", "write", 200, {"custom_properties": {"a": 1}}),
    Endpoint("get", "/api/v1/contexts/{context}/graph", "read", 200),
    Endpoint("delete", "/api/v1/contexts/{context}/run", "staff", 200),
    Endpoint("get", "/api/v1/events", "read", 200),
    Endpoint("get", "/api/v1/events/{event}", "read", 200),
    Endpoint("post", "/api/v1/events", "write", 201, {"artifact_id": "{artifact}", "execution_id": "{execution}", "type": "OUTPUT"}),
    Endpoint("get", "/api/v1/attributions", "read", 200),
    Endpoint("get", "/api/v1/attributions/{attribution}", "read", 200),
    Endpoint("post", "/api/v1/attributions", "write", 201, {"context_id": "{parent}", "artifact_id": "{artifact}"}),
    Endpoint("get", "/api/v1/associations", "read", 200),
    Endpoint("get", "/api/v1/associations/{association}", "read", 200),
    Endpoint("post", "/api/v1/associations", "write", 201, {"context_id": "{parent}", "execution_id": "{execution}"}),
    Endpoint("get", "/api/v1/parent-contexts", "read", 200),
    Endpoint("get", "/api/v1/parent-contexts/{parent-context}", "read", 200),
    Endpoint("post", "/api/v1/parent-contexts", "write", 201, {"child_id": "{context}", "parent_id": "{other}"}),
]


def expected(endpoint: Endpoint, role: str, anonymous_read: bool = False) -> int:
    if role == "anonymous":
        return endpoint.ok if endpoint.access == "read" and anonymous_read else 401
    if endpoint.access == "read":
        return endpoint.ok
    if endpoint.access == "write":
        return 403 if role == "reader" else endpoint.ok
    return endpoint.ok if role in ("staff", "superuser") else 403


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Users with tokens and one node of each kind, made once (in a transaction undone at the module's end)."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield {**_users(), **_nodes()}
        transaction.set_rollback(True)


def _users() -> dict[str, Any]:
    writer = User.objects.create_user("writer")
    writer.groups.add(Group.objects.get_or_create(name=WRITERS_GROUP)[0])
    users = {
        "reader": User.objects.create_user("reader"),
        "writer": writer,
        "staff": User.objects.create_user("staff", is_staff=True),
        "superuser": User.objects.create_superuser("root", "root@example.com", None),
    }
    return {"users": users, "tokens": {role: Token.objects.create(user=user).key for role, user in users.items()}}


def _nodes() -> dict[str, Any]:
    types = core.call("PutTypes", svc.PutTypesRequest(
        artifact_types=[pb.ArtifactType(name="DataSet")],
        execution_types=[pb.ExecutionType(name="Trainer")],
        context_types=[pb.ContextType(name="Experiment")],
    ))
    request = svc.PutExecutionRequest(
        execution=pb.Execution(type_id=types.execution_type_ids[0], last_known_state=pb.Execution.COMPLETE),
        contexts=[pb.Context(type_id=types.context_type_ids[0], name="exp")],
    )
    pair = request.artifact_event_pairs.add()
    pair.artifact.CopyFrom(pb.Artifact(type_id=types.artifact_type_ids[0], uri="s3://d/1"))
    pair.event.type = pb.Event.INPUT
    run = core.call("PutExecution", request)
    contexts = core.call("PutContexts", svc.PutContextsRequest(contexts=[
        pb.Context(type_id=types.context_type_ids[0], name="other"),
        pb.Context(type_id=types.context_type_ids[0], name="parent"),
    ])).context_ids
    core.call("PutParentContexts", svc.PutParentContextsRequest(
        parent_contexts=[pb.ParentContext(child_id=contexts[0], parent_id=contexts[1])]))
    from store.models import Association, Attribution, Event, ParentContext

    return {
        "ids": {
            "artifact-types": types.artifact_type_ids[0],
            "execution-types": types.execution_type_ids[0],
            "context-types": types.context_type_ids[0],
            "artifact": run.artifact_ids[0],
            "execution": run.execution_id,
            "context": run.context_ids[0],
            "other": contexts[0],
            "parent": contexts[1],
            "event": Event.objects.get().id,
            "attribution": Attribution.objects.get().id,
            "association": Association.objects.get().id,
            "parent-context": ParentContext.objects.get().id,
        }
    }


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str):
        for name, node_id in ids.items():
            if value == f"{{{name}}}":
                return node_id
            value = value.replace(f"{{{name}}}", str(node_id))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _call(world: dict[str, Any], endpoint: Endpoint, role: str, client: APIClient | None = None) -> Any:
    if client is None:
        client = APIClient()
        if role != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens'][role]}")
    url = _fill(endpoint.url, world["ids"])
    kwargs = {"format": "json"} if endpoint.body is not None else {}
    args = (url, _fill(endpoint.body, world["ids"])) if endpoint.body is not None else (url,)
    return getattr(client, endpoint.method)(*args, **kwargs)


@pytest.fixture
def quiet() -> Iterator[None]:
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_access_table(db: None, world: dict[str, Any], quiet: None, endpoint: Endpoint, role: str) -> None:
    response = _call(world, endpoint, role)
    assert response.status_code == expected(endpoint, role), response.content[:500]
    if response.status_code in (401, 403):
        assert_error(response, response.status_code)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_anonymous_read_only_site(db: None, world: dict[str, Any], quiet: None, settings: Any, endpoint: Endpoint) -> None:
    settings.MLMD_ANONYMOUS_READ = True
    response = _call(world, endpoint, "anonymous")
    assert response.status_code == expected(endpoint, "anonymous", anonymous_read=True)


def test_a_bad_token_is_refused_even_for_reads(db: None, world: dict[str, Any], settings: Any) -> None:
    settings.MLMD_ANONYMOUS_READ = True
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    response = client.get("/api/v1/artifacts")
    assert_error(response, 401)
    assert response["WWW-Authenticate"] == "Token"
    assert "0123456789abcdef" not in response.content.decode()


def test_inactive_users_are_refused(db: None, world: dict[str, Any]) -> None:
    User.objects.filter(username="writer").update(is_active=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens']['writer']}")
    assert client.get("/api/v1/artifacts").status_code == 401


def test_session_reads_and_writes_with_csrf(db: None, world: dict[str, Any]) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world["users"]["writer"])
    assert client.get("/api/v1/artifacts").status_code == 200
    refused = client.post("/api/v1/artifact-types", {"name": "ViaSession"}, format="json")
    assert_error(refused, 403, contains="CSRF")
    client.get("/api/v1/", HTTP_ACCEPT="text/html")  # the browsable API sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/artifact-types", {"name": "ViaSession"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


def test_session_reader_cannot_write(db: None, world: dict[str, Any]) -> None:
    client = APIClient()
    client.force_login(world["users"]["reader"])
    assert_error(client.post("/api/v1/artifact-types", {"name": "X"}, format="json"), 403)


def test_writes_are_throttled_per_user(db: None, world: dict[str, Any], settings: Any, quiet: None) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"mlmd_write": "3/minute"}}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens']['writer']}")
    codes = [client.post("/api/v1/artifact-types", {"name": f"T{i}"}, format="json").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    throttled = client.post("/api/v1/artifact-types", {"name": "T9"}, format="json")
    assert_error(throttled, 429)
    assert int(throttled["Retry-After"]) > 0
    assert client.get("/api/v1/artifact-types").status_code == 200  # reads are not throttled
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens']['staff']}")
    assert other.post("/api/v1/artifact-types", {"name": "Other"}, format="json").status_code == 201
    cache.clear()


def test_oversize_body_is_413_json(db: None, world: dict[str, Any], settings: Any, quiet: None) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens']['writer']}")
    big = {"type": "DataSet", "custom_properties": {"blob": "x" * 5000}}
    response = client.post("/api/v1/artifacts", big, format="json")
    assert_error(response, 413, contains="limit")
    anonymous = APIClient().post("/api/v1/artifacts", big, format="json")
    assert anonymous.status_code == 413
    assert client.post("/api/v1/artifacts", {"type": "DataSet"}, format="json").status_code == 201


def test_django_refusing_a_large_body_is_413_too() -> None:
    """Should Django itself refuse to read a body (RequestDataTooBig), the answer is still 413 JSON."""
    from django.core.exceptions import RequestDataTooBig

    from store.api.errors import exception_handler

    response = exception_handler(RequestDataTooBig("too big"), {"view": None})
    assert response is not None and response.status_code == 413
    assert response.data["code"] == "payload_too_large"


def test_tokens_never_appear_in_responses_or_logs(
    db: None, world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seen = [_call(world, endpoint, "writer").content.decode() for endpoint in ENDPOINTS]
    for token in world["tokens"].values():
        assert all(token not in body for body in seen)
        assert token not in caplog.text
