"""Optional bearer-token authentication for the gRPC server.

MLMD itself has no authentication; a shared token is the smallest step that
keeps an exposed port from being an open write API.  Clients send the gRPC
metadata ``authorization: Bearer <token>``.  Health checks stay open so that
load balancers and orchestrators can probe without the secret.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

import grpc

logger = logging.getLogger("store.grpc")

HEALTH_SERVICE_PREFIX = "/grpc.health.v1.Health/"
_SCHEME = "bearer "


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Refuse every RPC but health checks unless it carries the configured token."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("An empty token would let every client in.")
        self._token = token.encode()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method.startswith(HEALTH_SERVICE_PREFIX) or self._authorized(handler_call_details.invocation_metadata):
            return continuation(handler_call_details)
        logger.info("%s refused: UNAUTHENTICATED missing or wrong bearer token", method)
        return _UNAUTHENTICATED_HANDLER

    def _authorized(self, metadata: Any) -> bool:
        for key, value in metadata or ():
            if key != "authorization":
                continue
            text = value.decode() if isinstance(value, bytes) else str(value)
            if text[: len(_SCHEME)].lower() == _SCHEME:
                # Constant time, so the token cannot be guessed byte by byte.
                return hmac.compare_digest(text[len(_SCHEME) :].strip().encode(), self._token)
        return False


def _refuse(request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "Missing or invalid 'authorization: Bearer <token>' metadata.")


# No deserializer: the request body of a refused call is never parsed.
_UNAUTHENTICATED_HANDLER = grpc.unary_unary_rpc_method_handler(_refuse)
