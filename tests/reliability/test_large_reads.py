"""Issue #10 item 6: an unpaged read of 50,000 artifacts either pages or fails cleanly.

Found, and asserted exactly: ``GetArtifacts`` without ``options`` answers every
artifact in one message.  With the default limit (64 MiB) 50,000 artifacts
with two properties each fit (a few MB), so they all come back; a server
started on the same file with a limit below the answer's size answers
RESOURCE_EXHAUSTED naming the limit, and keeps serving.  The REST list of
artifacts without page parameters answers one page (the default page size)
and a cursor to the next, never the whole store.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rest_framework.test import APIClient

from store.api.pagination import DEFAULT_PAGE_SIZE
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.proto import metadata_store_service_pb2_grpc as service_grpc
from store.services import api as core
from tests.grpc.servers import ServerProcess, rpc_error, start_server
from tests.reliability.conftest import sqlite_only

ARTIFACTS = 50_000
BATCH = 1_000
SMALL_LIMIT = 1024 * 1024


def _artifact_type() -> pb.ArtifactType:
    return pb.ArtifactType(name="Shard", properties={"day": pb.INT, "split": pb.STRING})


def _batch(type_id: int, start: int) -> svc.PutArtifactsRequest:
    return svc.PutArtifactsRequest(
        artifacts=[
            pb.Artifact(
                type_id=type_id,
                uri=f"s3://bucket/shards/{n:05d}",
                properties={"day": pb.Value(int_value=n % 365), "split": pb.Value(string_value="train")},
            )
            for n in range(start, min(start + BATCH, ARTIFACTS))
        ]
    )


def _fill_over_grpc(stub: service_grpc.MetadataStoreServiceStub) -> None:
    type_id = stub.PutArtifactType(svc.PutArtifactTypeRequest(artifact_type=_artifact_type()), timeout=30).type_id
    for start in range(0, ARTIFACTS, BATCH):
        assert len(stub.PutArtifacts(_batch(type_id, start), timeout=120).artifact_ids) == min(BATCH, ARTIFACTS - start)


def _assert_serving(server: ServerProcess) -> None:
    health = health_pb2_grpc.HealthStub(server.channel())
    assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    assert server.process.poll() is None
    server.stub().GetArtifactTypes(svc.GetArtifactTypesRequest(), timeout=30)


# The servers use SQLite files of their own whatever the default database is: one pass is enough.
@sqlite_only
@pytest.mark.slow
def test_unpaged_get_artifacts_of_50000_returns_all_within_the_limit_or_fails_cleanly_above_it(
    tmp_path: Path, figure: Callable[[str], None]
) -> None:
    limit = int(settings.MLMD_GRPC_MAX_MESSAGE_BYTES)
    server = start_server(tmp_path)
    try:
        started = time.monotonic()
        _fill_over_grpc(server.stub())
        fill_seconds = time.monotonic() - started
        # The client may receive as much as the server may send; the server's limit is the one tested.
        stub = server.stub(options=[("grpc.max_receive_message_length", -1)])
        started = time.monotonic()
        response = stub.GetArtifacts(svc.GetArtifactsRequest(), timeout=120)
        read_seconds = time.monotonic() - started
        size = response.ByteSize()
        assert len(response.artifacts) == ARTIFACTS
        assert response.next_page_token == ""
        assert len({a.id for a in response.artifacts}) == ARTIFACTS
        assert {a.uri for a in response.artifacts} == {f"s3://bucket/shards/{n:05d}" for n in range(ARTIFACTS)}
        assert all(a.properties["split"].string_value == "train" for a in response.artifacts)
        assert size <= limit
        _assert_serving(server)
    finally:
        server.terminate()
    figure(
        f"{ARTIFACTS} artifacts filled in {fill_seconds:.1f} s ({ARTIFACTS // BATCH} x PutArtifacts); "
        f"unpaged GetArtifacts returned all {len(response.artifacts)} in {read_seconds:.1f} s, "
        f"{size / 1e6:.1f} MB <= limit {limit / 1e6:.1f} MB"
    )

    # The same store behind a limit smaller than the answer: a clean RESOURCE_EXHAUSTED, the server keeps serving.
    small = start_server(tmp_path / "small", "--max-message-bytes", str(SMALL_LIMIT),
                         env={"DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}"})
    try:
        stub = small.stub(options=[("grpc.max_receive_message_length", -1)])
        started = time.monotonic()
        error = rpc_error(stub.GetArtifacts, svc.GetArtifactsRequest(), timeout=120)
        failed_seconds = time.monotonic() - started
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        numbers = {int(n) for n in re.findall(r"\d+", error.details() or "")}
        assert SMALL_LIMIT in numbers, error.details()
        _assert_serving(small)
        paged = stub.GetArtifacts(svc.GetArtifactsRequest(options=pb.ListOperationOptions(max_result_size=100)), timeout=30)
        assert len(paged.artifacts) == 100 and paged.next_page_token
    finally:
        small.terminate()
    figure(
        f"same store, limit {SMALL_LIMIT} bytes: RESOURCE_EXHAUSTED in {failed_seconds:.1f} s "
        f"({error.details()!r}), server still serving"
    )


@pytest.mark.slow
def test_rest_list_of_50000_artifacts_without_page_parameters_answers_one_page(
    db: None, figure: Callable[[str], None], django_assert_max_num_queries: Any
) -> None:
    client = APIClient()
    client.force_authenticate(User.objects.create_user("reader"))
    assert client.get("/api/v1/artifacts").json()["results"] == []  # warm-up: the first request loads the URL conf
    started = time.monotonic()
    type_id = core.call("PutArtifactType", svc.PutArtifactTypeRequest(artifact_type=_artifact_type())).type_id
    for start in range(0, ARTIFACTS, BATCH):
        core.call("PutArtifacts", _batch(type_id, start))
    fill_seconds = time.monotonic() - started
    started = time.monotonic()
    with django_assert_max_num_queries(20):
        response = client.get("/api/v1/artifacts")
    read_seconds = time.monotonic() - started
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == DEFAULT_PAGE_SIZE
    assert body["next_cursor"] and body["next"]
    follow = client.get(body["next"])
    assert follow.status_code == 200
    second = follow.json()["results"]
    assert len(second) == DEFAULT_PAGE_SIZE
    assert {a["id"] for a in body["results"]}.isdisjoint(a["id"] for a in second)
    figure(
        f"{ARTIFACTS} artifacts filled in-process in {fill_seconds:.1f} s; GET /api/v1/artifacts answered "
        f"{len(body['results'])} and a cursor in {read_seconds * 1000:.0f} ms ({len(response.content)} bytes)"
    )
