"""examples/record_pipeline.sh records the demo pipeline with curl against a running site.

The script runs against pytest-django's live server with a real token; the run
is then read back through the core, through the gRPC servicer on a real
(loopback) gRPC server, as a pipeline using ml-metadata would see it, and on
the dashboard's context page.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.authtoken.models import Token

from store.api.permissions import WRITERS_GROUP
from store.grpc.servicer import MetadataStoreServicer, add_to_server
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.proto import metadata_store_service_pb2_grpc as service_grpc
from store.services import api

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "record_pipeline.sh"
STEPS = ["ExampleGen", "StatisticsGen", "SchemaGen", "Transform", "Trainer", "Evaluator", "Pusher"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs bash and curl"),
]


@pytest.fixture
def writer_token(transactional_db: None) -> str:
    user = User.objects.create_user("pipeline-bot")
    user.groups.add(Group.objects.get_or_create(name=WRITERS_GROUP)[0])
    return Token.objects.create(user=user).key


def _run_script(base_url: str, token: str, run: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BASE_URL": base_url, "TOKEN": token, "RUN": run, "EXPERIMENT": "taxi-rest-test"}
    env.pop("http_proxy", None)
    env.pop("HTTP_PROXY", None)
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def grpc_stub(transactional_db: None) -> Iterator[service_grpc.MetadataStoreServiceStub]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_to_server(MetadataStoreServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield service_grpc.MetadataStoreServiceStub(channel)
    finally:
        channel.close()
        server.stop(grace=None)


def test_script_records_the_pipeline_and_the_core_and_grpc_see_it(
    live_server: Any, writer_token: str, grpc_stub: service_grpc.MetadataStoreServiceStub
) -> None:
    result = _run_script(live_server.url, writer_token, "run-1")
    assert result.returncode == 0, result.stdout + result.stderr

    run = api.call("GetContextByTypeAndName", svc.GetContextByTypeAndNameRequest(type_name="PipelineRun", context_name="run-1"))
    assert run.HasField("context")
    executions = api.call("GetExecutionsByContext", svc.GetExecutionsByContextRequest(context_id=run.context.id)).executions
    assert sorted(e.type for e in executions) == sorted(STEPS)
    assert all(e.last_known_state == pb.Execution.COMPLETE for e in executions)
    parents = api.call("GetParentContextsByContext", svc.GetParentContextsByContextRequest(context_id=run.context.id))
    assert [c.name for c in parents.contexts] == ["taxi-rest-test"]

    # Through gRPC: the pushed model's upstream lineage reaches the examples ExampleGen wrote.
    pushed = grpc_stub.GetArtifactsByType(svc.GetArtifactsByTypeRequest(type_name="PushedModel")).artifacts
    assert [a.uri for a in pushed] == ["/serving/taxi/run-1"]
    options = pb.LineageSubgraphQueryOptions(
        starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(filter_query=f"id = {pushed[0].id}"),
        direction=pb.LineageSubgraphQueryOptions.UPSTREAM,
    )
    graph = grpc_stub.GetLineageSubgraph(svc.GetLineageSubgraphRequest(lineage_subgraph_query_options=options)).lineage_subgraph
    # As from ml-metadata's server, the nodes come by id; a client reads them by id.
    reached = grpc_stub.GetExecutionsByID(svc.GetExecutionsByIDRequest(execution_ids=[e.id for e in graph.executions]))
    assert {e.type for e in reached.executions} == set(STEPS)
    read = grpc_stub.GetArtifactsByID(svc.GetArtifactsByIDRequest(artifact_ids=[a.id for a in graph.artifacts]))
    assert any(a.uri.endswith("run-1/examples") for a in read.artifacts)
    events = grpc_stub.GetEventsByExecutionIDs(
        svc.GetEventsByExecutionIDsRequest(execution_ids=[e.id for e in executions])
    ).events
    assert len(events) == 7 + (0 + 1 + 1 + 2 + 3 + 2 + 2)  # 7 outputs, then each step's inputs

    # The dashboard shows the run.
    viewer = Client()
    viewer.force_login(User.objects.create_user("viewer"))
    page = viewer.get(f"/contexts/{run.context.id}/")
    assert page.status_code == 200
    assert "run-1" in page.content.decode() and "Trainer" in page.content.decode()

    # Running it again with the same run name writes nothing twice (idempotency keys).
    counts = (len(api.call("GetExecutions", svc.GetExecutionsRequest()).executions),
              len(api.call("GetArtifacts", svc.GetArtifactsRequest()).artifacts))
    again = _run_script(live_server.url, writer_token, "run-1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert counts == (len(api.call("GetExecutions", svc.GetExecutionsRequest()).executions),
                      len(api.call("GetArtifacts", svc.GetArtifactsRequest()).artifacts))


def test_script_reports_a_bad_token(live_server: Any, transactional_db: None) -> None:
    result = _run_script(live_server.url, "not-a-token", "run-x")
    assert result.returncode != 0
    assert "401" in result.stderr
    assert "not-a-token" not in result.stderr
