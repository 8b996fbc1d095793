"""Errors of the store, each carrying MLMD's status code and an HTTP status.

Every adapter maps these the same way: the gRPC servicer aborts with
``grpc_code``, the REST API answers ``http_status`` with the message.
"""
from __future__ import annotations

import grpc


class MetadataStoreError(Exception):
    grpc_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    http_status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidArgument(MetadataStoreError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class NotFound(MetadataStoreError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class AlreadyExists(MetadataStoreError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409


class FailedPrecondition(MetadataStoreError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409


class Aborted(MetadataStoreError):
    """A transient conflict (lock timeout, deadlock): the client should retry."""

    grpc_code = grpc.StatusCode.ABORTED
    http_status = 503


class ResourceExhausted(MetadataStoreError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 413


class Unimplemented(MetadataStoreError):
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    http_status = 501


class PermissionDenied(MetadataStoreError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403
