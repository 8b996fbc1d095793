"""Every MLMD method is served, health answers, and store errors keep their status codes."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.proto import metadata_store_service_pb2_grpc as service_grpc
from tests.grpc.conftest import Serve
from tests.grpc.servers import ServerProcess, rpc_error

SERVICE = svc.DESCRIPTOR.services_by_name["MetadataStoreService"]
METHOD_NAMES = [method.name for method in SERVICE.methods]
# A status that means "the server has no such method" or "the server broke",
# never an acceptable answer to a well-formed (if empty) request.
BROKEN = {grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def test_the_service_has_all_of_mlmd_methods() -> None:
    assert len(METHOD_NAMES) == 52


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_method_is_served_at_its_mlmd_path(server: ServerProcess, name: str) -> None:
    method = SERVICE.methods_by_name[name]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    call = server.channel().unary_unary(
        f"/ml_metadata.MetadataStoreService/{name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    try:
        call(request_class(), timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() not in BROKEN, f"{name}: {exc.code().name} {exc.details()}"


def test_generated_stub_reaches_the_server(stub: service_grpc.MetadataStoreServiceStub) -> None:
    response = stub.GetArtifactTypes(svc.GetArtifactTypesRequest(), timeout=30)
    assert isinstance(response, svc.GetArtifactTypesResponse)


@pytest.mark.parametrize("service", ["", "ml_metadata.MetadataStoreService"])
def test_health_check_is_serving(server: ServerProcess, service: str) -> None:
    health = health_pb2_grpc.HealthStub(server.channel())
    response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_health_of_an_unknown_service_is_not_found(server: ServerProcess) -> None:
    health = health_pb2_grpc.HealthStub(server.channel())
    error = rpc_error(health.Check, health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_type_id_gets_the_cores_status_not_internal(stub: service_grpc.MetadataStoreServiceStub) -> None:
    request = svc.PutArtifactsRequest(artifacts=[pb.Artifact(type_id=987654321, uri="/tmp/x")])
    error = rpc_error(stub.PutArtifacts, request, timeout=30)
    assert error.code() not in BROKEN
    assert error.code() in {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}
    assert error.details()


def test_conflicting_type_is_already_exists(stub: service_grpc.MetadataStoreServiceStub) -> None:
    name = f"type-{uuid.uuid4()}"
    first = pb.ArtifactType(name=name, properties={"p": pb.INT})
    stub.PutArtifactType(svc.PutArtifactTypeRequest(artifact_type=first), timeout=30)
    changed = pb.ArtifactType(name=name, properties={"p": pb.STRING})
    error = rpc_error(stub.PutArtifactType, svc.PutArtifactTypeRequest(artifact_type=changed), timeout=30)
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS


def test_missing_type_is_not_found(stub: service_grpc.MetadataStoreServiceStub) -> None:
    error = rpc_error(stub.GetArtifactType, svc.GetArtifactTypeRequest(type_name=f"nope-{uuid.uuid4()}"), timeout=30)
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_failed_requests_are_logged_one_line_each(
    server: ServerProcess, stub: service_grpc.MetadataStoreServiceStub
) -> None:
    marker = f"missing-{uuid.uuid4()}"
    rpc_error(stub.GetArtifactType, svc.GetArtifactTypeRequest(type_name=marker), timeout=30)
    server.wait_for_log(marker, timeout=10)
    lines = [line for line in server.log().splitlines() if marker in line]
    assert len(lines) == 1
    assert "GetArtifactType failed: NOT_FOUND" in lines[0]


def test_round_trip_through_the_store(stub: service_grpc.MetadataStoreServiceStub) -> None:
    name = f"type-{uuid.uuid4()}"
    type_id = stub.PutArtifactType(
        svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name=name, properties={"size": pb.INT})), timeout=30
    ).type_id
    artifact = pb.Artifact(type_id=type_id, uri="/data/1", properties={"size": pb.Value(int_value=3)})
    [artifact_id] = stub.PutArtifacts(svc.PutArtifactsRequest(artifacts=[artifact]), timeout=30).artifact_ids
    [stored] = stub.GetArtifactsByID(svc.GetArtifactsByIDRequest(artifact_ids=[artifact_id]), timeout=30).artifacts
    assert stored.uri == "/data/1"
    assert stored.properties["size"].int_value == 3
    assert stored.type == name


def test_health_watch_streams_the_status_and_ends_when_the_server_stops(serve_with: Serve) -> None:
    stub = serve_with(lambda method, request: svc.GetArtifactTypesResponse())
    store_server, channel = serve_with.started[-1]  # type: ignore[attr-defined]
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    stub.GetArtifactTypes(svc.GetArtifactTypesRequest(), timeout=10)  # calls go on beside the watch
    store_server.stop(30)
    assert [answer.status for answer in watch] == [health_pb2.HealthCheckResponse.NOT_SERVING]
    assert watch.code() is grpc.StatusCode.OK
