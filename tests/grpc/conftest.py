"""Fixtures of the gRPC tests; the servers themselves are in ``tests.grpc.servers``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
from google.protobuf.message import Message

from store.grpc.server import ServerOptions, StoreServer, build_server
from store.proto import metadata_store_service_pb2_grpc as service_grpc
from tests.grpc.servers import ServerProcess, running


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One plain server shared by the tests that do not stop or reconfigure it."""
    yield from running(tmp_path_factory.mktemp("grpc-server"))


@pytest.fixture()
def stub(server: ServerProcess) -> service_grpc.MetadataStoreServiceStub:
    return server.stub()


Serve = Callable[..., service_grpc.MetadataStoreServiceStub]


@pytest.fixture()
def serve_with() -> Iterator[Serve]:
    """Start an in-thread server whose core is the given function."""
    started: list[tuple[StoreServer, grpc.Channel]] = []

    def start(call: Callable[[str, Message], Message], **options: object) -> service_grpc.MetadataStoreServiceStub:
        options.setdefault("workers", 2)
        store_server = build_server(ServerOptions(port=0, **options), call=call)  # type: ignore[arg-type]
        store_server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{store_server.port}")
        started.append((store_server, channel))
        return service_grpc.MetadataStoreServiceStub(channel)

    start.started = started  # type: ignore[attr-defined]  # (server, channel) of each, for tests that stop one
    yield start
    for store_server, channel in started:
        channel.close()
        store_server.stop(0)
