"""MLMD's Python exception types, one per status code.

The classes, attributes and helpers mirror ``ml_metadata.errors`` (1.17), so code
written against ml-metadata keeps working with ``from store import errors``::

    try:
        store.get_artifact_type("Model")
    except errors.NotFoundError:
        ...

Every error carries ``message`` and ``error_code`` (the absl/gRPC status code
number, e.g. ``errors.NOT_FOUND == 5``).
"""
from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# Status code numbers, the same as absl::StatusCode and grpc.StatusCode.
OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16


class StatusError(Exception):
    """An MLMD error: a message and the status code it was returned with."""

    def __init__(self, message: str, error_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    def __reduce__(self):  # picklable although __init__ signatures differ
        return (_rebuild, (type(self), self.message, self.error_code))


def _rebuild(cls: type[StatusError], message: str, error_code: int) -> StatusError:
    exc = cls.__new__(cls)
    StatusError.__init__(exc, message, error_code)
    return exc


class CancelledError(StatusError):
    """The operation was cancelled."""

    def __init__(self, message: str) -> None:
        super().__init__(message, CANCELLED)


class UnknownError(StatusError):
    """The operation failed for an unknown reason."""

    def __init__(self, message: str, error_code: int = UNKNOWN) -> None:
        super().__init__(message, error_code)


class InvalidArgumentError(StatusError):
    """The request is invalid."""

    def __init__(self, message: str) -> None:
        super().__init__(message, INVALID_ARGUMENT)


class DeadlineExceededError(StatusError):
    """A deadline expired before the operation could complete."""

    def __init__(self, message: str) -> None:
        super().__init__(message, DEADLINE_EXCEEDED)


class NotFoundError(StatusError):
    """A requested entity was not found."""

    def __init__(self, message: str) -> None:
        super().__init__(message, NOT_FOUND)


class AlreadyExistsError(StatusError):
    """The entity to create already exists."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ALREADY_EXISTS)


class PermissionDeniedError(StatusError):
    """The caller may not run this operation."""

    def __init__(self, message: str) -> None:
        super().__init__(message, PERMISSION_DENIED)


class UnauthenticatedError(StatusError):
    """The request has no valid authentication credentials."""

    def __init__(self, message: str) -> None:
        super().__init__(message, UNAUTHENTICATED)


class ResourceExhaustedError(StatusError):
    """A resource has been exhausted."""

    def __init__(self, message: str) -> None:
        super().__init__(message, RESOURCE_EXHAUSTED)


class FailedPreconditionError(StatusError):
    """The system is not in a state to run the operation."""

    def __init__(self, message: str) -> None:
        super().__init__(message, FAILED_PRECONDITION)


class AbortedError(StatusError):
    """The operation was aborted, typically by a concurrent action; it may be retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ABORTED)


class OutOfRangeError(StatusError):
    """The operation went past the valid input range."""

    def __init__(self, message: str) -> None:
        super().__init__(message, OUT_OF_RANGE)


class UnimplementedError(StatusError):
    """The operation is not implemented."""

    def __init__(self, message: str) -> None:
        super().__init__(message, UNIMPLEMENTED)


class InternalError(StatusError):
    """The system hit an internal error."""

    def __init__(self, message: str) -> None:
        super().__init__(message, INTERNAL)


class UnavailableError(StatusError):
    """The service is currently unavailable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, UNAVAILABLE)


class DataLossError(StatusError):
    """Unrecoverable data loss or corruption."""

    def __init__(self, message: str) -> None:
        super().__init__(message, DATA_LOSS)


_CODE_TO_EXCEPTION_CLASS: dict[int, type[StatusError]] = {
    CANCELLED: CancelledError,
    UNKNOWN: UnknownError,
    INVALID_ARGUMENT: InvalidArgumentError,
    DEADLINE_EXCEEDED: DeadlineExceededError,
    NOT_FOUND: NotFoundError,
    ALREADY_EXISTS: AlreadyExistsError,
    PERMISSION_DENIED: PermissionDeniedError,
    UNAUTHENTICATED: UnauthenticatedError,
    RESOURCE_EXHAUSTED: ResourceExhaustedError,
    FAILED_PRECONDITION: FailedPreconditionError,
    ABORTED: AbortedError,
    OUT_OF_RANGE: OutOfRangeError,
    UNIMPLEMENTED: UnimplementedError,
    INTERNAL: InternalError,
    UNAVAILABLE: UnavailableError,
    DATA_LOSS: DataLossError,
}


def exception_type_from_error_code(error_code: int) -> type[StatusError]:
    """The exception class for a status code; KeyError for OK or an unknown code."""
    return _CODE_TO_EXCEPTION_CLASS[error_code]


def make_exception(message: str, error_code: int) -> StatusError:
    """An exception of the class matching ``error_code`` (UnknownError if none does)."""
    exc_type = _CODE_TO_EXCEPTION_CLASS.get(error_code)
    if exc_type is None:
        return UnknownError(message)
    if error_code == INTERNAL:
        # Backend failures are worth a trace in the client's log, as in ml-metadata.
        logger.warning("mlmd client %s: %s", exc_type.__name__, message)
    return exc_type(message)


__all__ = [
    "ABORTED",
    "ALREADY_EXISTS",
    "CANCELLED",
    "DATA_LOSS",
    "DEADLINE_EXCEEDED",
    "FAILED_PRECONDITION",
    "INTERNAL",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "OK",
    "OUT_OF_RANGE",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "UNAUTHENTICATED",
    "UNAVAILABLE",
    "UNIMPLEMENTED",
    "UNKNOWN",
    "AbortedError",
    "AlreadyExistsError",
    "CancelledError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "StatusError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "exception_type_from_error_code",
    "make_exception",
]
