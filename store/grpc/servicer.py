"""Every method of ``ml_metadata.MetadataStoreService``, served through the store's API.

The handlers are built from the service descriptor rather than written one by
one: a method MLMD adds to the .proto is served as soon as the core knows it,
and no method can be forgotten here.  Each call runs ``api.call(name, request)``
on the servicer's database alias; the core owns the transaction, this module
only maps the outcome to a gRPC status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from django.db import DEFAULT_DB_ALIAS, close_old_connections
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from store import db
from store.grpc.pool import ConnectionStack
from store.proto import metadata_store_service_pb2
from store.services.errors import MetadataStoreError

logger = logging.getLogger("store.grpc")

SERVICE_DESCRIPTOR: ServiceDescriptor = metadata_store_service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]
SERVICE_NAME: str = SERVICE_DESCRIPTOR.full_name  # "ml_metadata.MetadataStoreService"

ApiCall = Callable[[str, Message], Message]


def _default_api_call() -> ApiCall:
    """The core's entry point, imported when a servicer is built (not at module import)."""
    from store.services import api

    return api.call


class MetadataStoreServicer:
    """Runs MLMD RPCs on one database alias and turns store errors into statuses.

    ``call`` is ``store.services.api.call`` unless a caller injects another
    implementation (tests that need a slow or failing core).  With
    ``lend_connections`` (the server's), each call runs on a connection lent by
    ``self.connections`` instead of its thread's own (store/grpc/pool.py).
    """

    def __init__(self, alias: str = DEFAULT_DB_ALIAS, call: ApiCall | None = None, lend_connections: bool = False) -> None:
        self.alias = alias
        self.connections = ConnectionStack(alias) if lend_connections else None
        # Resolved now, not on the first request: a core that fails to import
        # stops the server at startup instead of answering INTERNAL to everyone.
        self.call: ApiCall = call if call is not None else _default_api_call()

    def handle(self, method: str, request: Message, context: grpc.ServicerContext) -> Message:
        """Serve one RPC; never lets an exception escape as UNKNOWN."""
        if self.connections is None:
            return self._handle(method, request, context)
        with self.connections.lend():
            return self._handle(method, request, context)

    def _handle(self, method: str, request: Message, context: grpc.ServicerContext) -> Message:
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            # The client has already given up: don't start a transaction nobody waits for.
            _abort(context, method, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded before the call started.")
        # Django only recycles connections at request boundaries of its own
        # (HTTP); a long-lived worker thread must do it itself, or a dropped
        # MySQL connection would fail every later call on this thread.
        close_old_connections()
        try:
            with db.using(self.alias):
                return self.call(method, request)
        except MetadataStoreError as exc:
            _abort(context, method, exc.grpc_code, exc.message)
        except Exception:  # the last line of defence: answer INTERNAL, keep serving
            logger.exception("%s failed: INTERNAL (unexpected error) peer=%s", method, context.peer())
            context.abort(grpc.StatusCode.INTERNAL, f"Internal error in {method}; the server log has the details.")
        finally:
            close_old_connections()
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        """One unary-unary handler per method of the service descriptor."""
        return {method.name: self._method_handler(method) for method in SERVICE_DESCRIPTOR.methods}

    def _method_handler(self, method: MethodDescriptor) -> grpc.RpcMethodHandler:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        name = method.name

        def behaviour(request: Message | _Undecodable, context: grpc.ServicerContext) -> Message:
            if isinstance(request, _Undecodable):
                _abort(context, name, grpc.StatusCode.INVALID_ARGUMENT, f"The request is not a valid {request.type_name}: {request.reason}")
            return self.handle(name, request, context)  # type: ignore[arg-type]

        def deserialize(data: bytes) -> Message | _Undecodable:
            # grpcio answers INTERNAL when a deserializer raises; bytes that are no
            # request are the client's error, so the handler answers INVALID_ARGUMENT.
            try:
                return request_class.FromString(data)
            except DecodeError as exc:
                return _Undecodable(method.input_type.full_name, str(exc)[:200])

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=deserialize,
            response_serializer=response_class.SerializeToString,
        )


@dataclass(frozen=True)
class _Undecodable:
    """What a request frame that does not parse is deserialized to (the handler refuses it)."""

    type_name: str
    reason: str


def _abort(context: grpc.ServicerContext, method: str, code: grpc.StatusCode, message: str) -> None:
    """Log one line for a refused request (never its body) and end the RPC with ``code``."""
    level = logging.WARNING if code in _SERVER_SIDE_CODES else logging.INFO
    logger.log(level, "%s failed: %s %s peer=%s", method, code.name, message, context.peer())
    context.abort(code, message)


# Codes that point at the server or the database rather than at the request.
_SERVER_SIDE_CODES = frozenset(
    {
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DATA_LOSS,
    }
)


def add_to_server(servicer: MetadataStoreServicer, server: grpc.Server) -> None:
    """Register the servicer the way generated ``add_*_to_server`` functions do."""
    handlers = servicer.method_handlers()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    # Registered methods skip the generic lookup on every call (grpcio >= 1.62).
    register: Any = getattr(server, "add_registered_method_handlers", None)
    if register is not None:
        register(SERVICE_NAME, handlers)
