"""Bearer-token authentication and TLS / mutual TLS of the gRPC server."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from store.grpc.tls import TLSConfigError, server_credentials
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.proto import metadata_store_service_pb2_grpc as service_grpc
from tests.grpc.servers import ServerProcess, rpc_error, running

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("grpc-token")
    token_file = tmp / "token"
    token_file.write_text(f"{TOKEN}\n")  # a trailing newline, as editors and `echo` leave one
    yield from running(tmp, env={"MLMD_GRPC_TOKEN_FILE": str(token_file)})


def _get_types(stub: service_grpc.MetadataStoreServiceStub, metadata: list[tuple[str, str]] | None = None) -> None:
    stub.GetArtifactTypes(svc.GetArtifactTypesRequest(), timeout=30, metadata=metadata)


def test_token_server_refuses_a_call_without_the_header(token_server: ServerProcess) -> None:
    error = rpc_error(_get_types, token_server.stub())
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_token_server_refuses_a_wrong_token(token_server: ServerProcess) -> None:
    error = rpc_error(_get_types, token_server.stub(), [("authorization", "Bearer not-the-token")])
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_token_server_accepts_the_token(token_server: ServerProcess) -> None:
    _get_types(token_server.stub(), [("authorization", f"Bearer {TOKEN}")])


def test_token_server_leaves_health_checks_open(token_server: ServerProcess) -> None:
    health = health_pb2_grpc.HealthStub(token_server.channel())
    response = health.Check(health_pb2.HealthCheckRequest(service="ml_metadata.MetadataStoreService"), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_token_server_says_so_at_startup(token_server: ServerProcess) -> None:
    assert "bearer token required" in token_server.log()
    assert TOKEN not in token_server.log()


@dataclass(frozen=True)
class Certificates:
    ca: bytes
    server_key: bytes
    server_cert: bytes
    client_key: bytes
    client_cert: bytes


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_certificates(directory: Path) -> Certificates:
    """A private CA that signs a server certificate for localhost and a client certificate."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mlmd-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=directory,
    )
    for name, extension in (
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN=mlmd-test-{name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=directory,
        )
        (directory / f"{name}.ext").write_text(extension + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.pem",
            cwd=directory,
        )
    read = lambda name: (directory / name).read_bytes()  # noqa: E731
    return Certificates(read("ca.pem"), read("server.key"), read("server.pem"), read("client.key"), read("client.pem"))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    return _make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates) -> Iterator[ServerProcess]:
    """A server configured the MLMD way: PEM text inline in the server config."""
    tmp = tmp_path_factory.mktemp("grpc-mtls")
    config = pb.MetadataStoreServerConfig()
    config.ssl_config.server_key = certificates.server_key.decode()
    config.ssl_config.server_cert = certificates.server_cert.decode()
    config.ssl_config.custom_ca = certificates.ca.decode()
    config.ssl_config.client_verify = True
    config_file = tmp / "server_config.pbtxt"
    config_file.write_text(text_format.MessageToString(config))
    yield from running(tmp, "--metadata_store_server_config_file", str(config_file))


def _tls_stub(server: ServerProcess, credentials: grpc.ChannelCredentials) -> service_grpc.MetadataStoreServiceStub:
    channel = grpc.secure_channel(f"localhost:{server.port}", credentials)
    server.channels.append(channel)
    return service_grpc.MetadataStoreServiceStub(channel)


def test_mtls_server_accepts_a_client_certificate_from_its_ca(
    mtls_server: ServerProcess, certificates: Certificates
) -> None:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certificates.ca,
        private_key=certificates.client_key,
        certificate_chain=certificates.client_cert,
    )
    _get_types(_tls_stub(mtls_server, credentials))
    assert "(mTLS," in mtls_server.log()


def test_mtls_server_refuses_a_client_without_certificate(
    mtls_server: ServerProcess, certificates: Certificates
) -> None:
    stub = _tls_stub(mtls_server, grpc.ssl_channel_credentials(root_certificates=certificates.ca))
    error = rpc_error(_get_types, stub)
    assert error.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_server_refuses_plaintext(mtls_server: ServerProcess) -> None:
    error = rpc_error(_get_types, mtls_server.stub())
    assert error.code() == grpc.StatusCode.UNAVAILABLE


def test_tls_material_may_be_given_as_file_paths(tmp_path: Path, certificates: Certificates) -> None:
    (tmp_path / "key.pem").write_bytes(certificates.server_key)
    (tmp_path / "cert.pem").write_bytes(certificates.server_cert)
    ssl = pb.MetadataStoreServerConfig.SSLConfig(
        server_key=str(tmp_path / "key.pem"), server_cert=str(tmp_path / "cert.pem")
    )
    assert isinstance(server_credentials(ssl), grpc.ServerCredentials)


def test_client_verify_without_a_ca_is_refused(certificates: Certificates) -> None:
    ssl = pb.MetadataStoreServerConfig.SSLConfig(
        server_key=certificates.server_key.decode(), server_cert=certificates.server_cert.decode(), client_verify=True
    )
    with pytest.raises(TLSConfigError, match="custom_ca"):
        server_credentials(ssl)


def test_unreadable_tls_file_is_named(tmp_path: Path) -> None:
    ssl = pb.MetadataStoreServerConfig.SSLConfig(server_key=str(tmp_path / "missing.key"), server_cert="x")
    with pytest.raises(TLSConfigError, match="server_key"):
        server_credentials(ssl)
