"""Fixtures of the gRPC tests; the servers themselves are in ``tests.grpc.servers``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.proto import metadata_store_service_pb2_grpc as service_grpc
from tests.grpc.servers import ServerProcess, running


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One plain server shared by the tests that do not stop or reconfigure it."""
    yield from running(tmp_path_factory.mktemp("grpc-server"))


@pytest.fixture()
def stub(server: ServerProcess) -> service_grpc.MetadataStoreServiceStub:
    return server.stub()
