"""Optional bearer-token authentication for the gRPC server.

MLMD itself has no authentication; a shared token is the smallest step that
keeps an exposed port from being an open write API.  Clients send the gRPC
metadata ``authorization: Bearer <token>``.  Health checks stay open so that
load balancers and orchestrators can probe without the secret.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import grpc

logger = logging.getLogger("store.grpc")

HEALTH_SERVICE_PREFIX = "/grpc.health.v1.Health/"
_SCHEME = "bearer "


REFUSAL = (grpc.StatusCode.UNAUTHENTICATED, "Missing or invalid 'authorization: Bearer <token>' metadata.")


class BearerToken:
    """The configured token, and whether a call's metadata carries it."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("An empty token would let every client in.")
        self._token = token.encode()

    def authorized(self, metadata: Any) -> bool:
        for key, value in metadata or ():
            if key != "authorization":
                continue
            text = value.decode() if isinstance(value, bytes) else str(value)
            if text[: len(_SCHEME)].lower() == _SCHEME:
                # Constant time, so the token cannot be guessed byte by byte.
                return hmac.compare_digest(text[len(_SCHEME) :].strip().encode(), self._token)
        return False

    def refusal(self, method: str, metadata: Any) -> tuple[grpc.StatusCode, str] | None:
        """None if the call may run, else its status (the gate of store/grpc/engine.py)."""
        if method.startswith(HEALTH_SERVICE_PREFIX) or self.authorized(metadata):
            return None
        logger.info("%s refused: UNAUTHENTICATED missing or wrong bearer token", method)
        return REFUSAL
