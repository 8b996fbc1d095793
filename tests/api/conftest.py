"""Fixtures of the REST API tests: named users with tokens, API clients, the demo store.

Users (beside ``tests.base``'s ``admin``, ``staff`` and ``reader``):

- ``writer``: an ordinary account in the group ``mlmd-writers``.

``api`` returns an APIClient authenticated by that user's token:
``api("writer").post(...)``; ``api(None)`` is anonymous.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from store.api.permissions import WRITERS_GROUP
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api as core
from tests.base import PASSWORD, NamedUsers, create_named_users

WRITER = "writer"


@pytest.fixture
def api_users(db: None, settings: Any) -> dict[str, User]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    named: NamedUsers = create_named_users()
    writer = User.objects.create_user(WRITER, "writer@example.com", PASSWORD)
    writer.groups.add(Group.objects.get_or_create(name=WRITERS_GROUP)[0])
    return {"admin": named.admin, "staff": named.staff, "reader": named.reader, "writer": writer}


@pytest.fixture
def tokens(api_users: dict[str, User]) -> dict[str, str]:
    return {name: Token.objects.create(user=user).key for name, user in api_users.items()}


@pytest.fixture
def api(tokens: dict[str, str]) -> Callable[[str | None], APIClient]:
    def client(user: str | None = "writer") -> APIClient:
        result = APIClient()
        if user is not None:
            result.credentials(HTTP_AUTHORIZATION=f"Token {tokens[user]}")
        return result

    return client


@pytest.fixture
def writer(api: Callable[[str | None], APIClient]) -> APIClient:
    return api("writer")


@pytest.fixture
def reader(api: Callable[[str | None], APIClient]) -> APIClient:
    return api("reader")


@pytest.fixture
def demo(db: None) -> Any:
    from store.demo import load_demo

    return load_demo()


@pytest.fixture
def dataset_types(db: None) -> dict[str, int]:
    """DataSet, Model (artifacts), Trainer (execution), Experiment and PipelineRun (contexts): name -> id."""
    request = svc.PutTypesRequest(
        artifact_types=[
            pb.ArtifactType(name="DataSet", base_type=pb.ArtifactType.DATASET, properties={"day": pb.INT, "split": pb.STRING}),
            pb.ArtifactType(name="Model", base_type=pb.ArtifactType.MODEL, properties={"version": pb.INT, "accuracy": pb.DOUBLE}),
        ],
        execution_types=[
            pb.ExecutionType(name="Trainer", base_type=pb.ExecutionType.TRAIN, properties={"lr": pb.DOUBLE, "steps": pb.INT})
        ],
        context_types=[pb.ContextType(name="Experiment", properties={"owner": pb.STRING}), pb.ContextType(name="PipelineRun")],
    )
    response = core.call("PutTypes", request)
    return {
        "DataSet": response.artifact_type_ids[0],
        "Model": response.artifact_type_ids[1],
        "Trainer": response.execution_type_ids[0],
        "Experiment": response.context_type_ids[0],
        "PipelineRun": response.context_type_ids[1],
    }
