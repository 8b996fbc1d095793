"""The servicer's error mapping, with a core that misbehaves on purpose.

These run an in-thread server with an injected ``call``: a real core cannot be
made to raise an unexpected exception on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc
import pytest
from google.protobuf.message import Message

from store.proto import metadata_store_service_pb2 as svc
from store.services.errors import Aborted, InvalidArgument, NotFound
from tests.grpc.conftest import Serve
from tests.grpc.servers import rpc_error


def _raising(exc: Exception) -> Callable[[str, Message], Message]:
    def call(method: str, request: Message) -> Message:
        raise exc

    return call


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (InvalidArgument("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound("gone"), grpc.StatusCode.NOT_FOUND),
        (Aborted("deadlock, retry"), grpc.StatusCode.ABORTED),
    ],
)
def test_store_errors_keep_their_code_and_message(serve_with: Serve, exc: Exception, code: grpc.StatusCode) -> None:
    stub = serve_with(_raising(exc))
    error = rpc_error(stub.GetArtifactTypes, svc.GetArtifactTypesRequest(), timeout=10)
    assert error.code() == code
    assert error.details() == str(exc)


def test_unexpected_exception_is_internal_and_logged_with_traceback(
    serve_with: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    stub = serve_with(_raising(ZeroDivisionError("secret detail")))
    logger = logging.getLogger("store.grpc")
    added = caplog.handler not in logger.handlers
    if added:  # the site's "store" logger does not propagate to caplog's root handler
        logger.addHandler(caplog.handler)
    try:
        error = rpc_error(stub.PutArtifacts, svc.PutArtifactsRequest(), timeout=10)
    finally:
        if added:
            logger.removeHandler(caplog.handler)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "secret detail" not in (error.details() or "")  # internals stay in the log
    [record] = {id(r): r for r in caplog.records if r.name == "store.grpc"}.values()
    assert record.getMessage().startswith("PutArtifacts failed: INTERNAL")
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError


def test_server_keeps_serving_after_an_internal_error(serve_with: Serve) -> None:
    def call(method: str, request: Message) -> Message:
        if method == "PutArtifacts":
            raise RuntimeError("boom")
        return svc.GetArtifactTypesResponse()

    stub = serve_with(call)
    rpc_error(stub.PutArtifacts, svc.PutArtifactsRequest(), timeout=10)
    assert stub.GetArtifactTypes(svc.GetArtifactTypesRequest(), timeout=10) == svc.GetArtifactTypesResponse()


def test_each_call_gets_its_method_name_and_typed_request(serve_with: Serve) -> None:
    seen: list[tuple[str, Message]] = []

    def call(method: str, request: Message) -> Message:
        seen.append((method, request))
        return svc.GetArtifactsByURIResponse()

    stub = serve_with(call)
    stub.GetArtifactsByURI(svc.GetArtifactsByURIRequest(uris=["/a"]), timeout=10)
    assert seen == [("GetArtifactsByURI", svc.GetArtifactsByURIRequest(uris=["/a"]))]


def test_token_interceptor_in_thread(serve_with: Serve) -> None:
    stub = serve_with(lambda method, request: svc.GetArtifactTypesResponse(), token="t0k")
    assert (
        rpc_error(stub.GetArtifactTypes, svc.GetArtifactTypesRequest(), timeout=10).code()
        == grpc.StatusCode.UNAUTHENTICATED
    )
    stub.GetArtifactTypes(svc.GetArtifactTypesRequest(), timeout=10, metadata=[("authorization", "bearer t0k")])
