"""Message limits, deadlines, graceful shutdown and port handling of the gRPC server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.proto import metadata_store_service_pb2_grpc as service_grpc
from tests.grpc.servers import SLOW_LAUNCHER, ServerProcess, rpc_error, run_to_exit, running, start_server

LIMIT = 1024 * 1024  # small, to keep the big-message tests fast


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from running(tmp_path_factory.mktemp("grpc-small"), "--max-message-bytes", str(LIMIT))


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from running(
        tmp_path_factory.mktemp("grpc-slow"), launcher=SLOW_LAUNCHER, env={"MLMD_TEST_SLOW_SECONDS": "3"}
    )


def _artifact_type_id(stub: service_grpc.MetadataStoreServiceStub) -> int:
    request = svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name=f"blob-{uuid.uuid4()}"))
    return stub.PutArtifactType(request, timeout=30).type_id


def _put_request_of_size(type_id: int, size: int) -> svc.PutArtifactsRequest:
    """A PutArtifactsRequest whose serialized size is exactly ``size`` bytes."""
    request = svc.PutArtifactsRequest(artifacts=[pb.Artifact(type_id=type_id)])
    blob = request.artifacts[0].custom_properties["blob"]
    blob.string_value = ""
    overhead = request.ByteSize()
    blob.string_value = "x" * (size - overhead)
    # Varint length prefixes grow with the payload: trim until exact.
    while request.ByteSize() > size:
        blob.string_value = blob.string_value[: -(request.ByteSize() - size)]
    assert request.ByteSize() == size
    return request


def _assert_still_serving(server: ServerProcess) -> None:
    health = health_pb2_grpc.HealthStub(server.channel())
    status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    server.stub().GetArtifactTypes(svc.GetArtifactTypesRequest(), timeout=30)


def test_request_at_the_limit_is_accepted(small_server: ServerProcess) -> None:
    stub = small_server.stub()
    request = _put_request_of_size(_artifact_type_id(stub), LIMIT)
    response = stub.PutArtifacts(request, timeout=60)
    assert len(response.artifact_ids) == 1


def test_request_over_the_limit_is_resource_exhausted_and_server_stays_up(small_server: ServerProcess) -> None:
    stub = small_server.stub()
    request = _put_request_of_size(_artifact_type_id(stub), LIMIT + 1)
    error = rpc_error(stub.PutArtifacts, request, timeout=60)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _assert_still_serving(small_server)


def test_response_over_the_limit_is_resource_exhausted(small_server: ServerProcess) -> None:
    stub = small_server.stub()
    type_id = _artifact_type_id(stub)
    half = _put_request_of_size(type_id, LIMIT // 2 + 1024)
    ids = [stub.PutArtifacts(half, timeout=60).artifact_ids[0] for _ in range(2)]
    error = rpc_error(stub.GetArtifactsByID, svc.GetArtifactsByIDRequest(artifact_ids=ids), timeout=60)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _assert_still_serving(small_server)


def test_expired_deadline_is_deadline_exceeded(slow_server: ServerProcess) -> None:
    # The slow method: a fast one can answer before gRPC's timers (millisecond-grained) notice a 1 µs deadline.
    error = rpc_error(slow_server.stub().GetArtifactTypes, svc.GetArtifactTypesRequest(), timeout=1e-6)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    health = health_pb2_grpc.HealthStub(slow_server.channel())
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    slow_server.stub().GetExecutionTypes(svc.GetExecutionTypesRequest(), timeout=30)  # not the slow method


def test_deadline_during_a_slow_call_and_server_stays_up(slow_server: ServerProcess) -> None:
    stub = slow_server.stub()
    error = rpc_error(stub.GetArtifactTypes, svc.GetArtifactTypesRequest(), timeout=0.5)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    health = health_pb2_grpc.HealthStub(slow_server.channel())
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    stub.GetExecutionTypes(svc.GetExecutionTypesRequest(), timeout=30)  # not the slow method


def test_sigterm_finishes_the_in_flight_request_and_exits_0(tmp_path: Path) -> None:
    server = start_server(tmp_path, launcher=SLOW_LAUNCHER, env={"MLMD_TEST_SLOW_SECONDS": "2"})
    stub = server.stub()
    in_flight: futures.Future[svc.GetArtifactTypesResponse] = stub.GetArtifactTypes.future(
        svc.GetArtifactTypesRequest(), timeout=60
    )
    server.wait_for_log("slow call started")
    exit_code = server.terminate()
    assert isinstance(in_flight.result(), svc.GetArtifactTypesResponse)
    assert exit_code == 0, server.log()
    assert "Received SIGTERM" in server.log()
    assert "gRPC server stopped" in server.log()


def test_busy_port_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    result = run_to_exit(tmp_path, "--port", str(server.port))
    assert result.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{server.port}" in result.stderr
    _assert_still_serving(server)
