"""Every error of the REST API as one JSON shape, naming the field and the problem.

    {"code": "invalid_argument", "detail": "...", "field": "properties.day",
     "errors": [{"field": "properties.day", "detail": "..."}]}

Store errors keep their HTTP status (InvalidArgument 400, NotFound 404,
AlreadyExists/FailedPrecondition 409, Aborted 503 with Retry-After,
ResourceExhausted 413); DRF's own errors keep theirs; a body over
DATA_UPLOAD_MAX_MEMORY_SIZE is 413.  A filter-query error adds ``position``.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from store.services.errors import Aborted, MetadataStoreError
from store.services.transactions import translate_database_error

logger = logging.getLogger("store.api")

RETRY_AFTER_SECONDS = 1


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the site accepts."
    default_code = "payload_too_large"


class BadRequest(exceptions.APIException):
    """A 400 naming one field (query parameters, headers, references in a body)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, detail: str, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(detail, code)
        self.field = field


class NotFoundError(exceptions.NotFound):
    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


# Core messages and the request field each one is about (a fallback: the core's
# errors name their field only sometimes).  Each pattern's first group, when it
# has one, is the property name.
_FIELD_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Found unmatched property type: custom property (\S+)"), "custom_properties.{0}"),
    (re.compile(r"Found unknown property: (\S+)"), "properties.{0}"),
    (re.compile(r"Found unmatched property type: (\S+)"), "properties.{0}"),
    (re.compile(r"custom property needs a name"), "custom_properties"),
    (re.compile(r"no artifact with id"), "artifact_id"),
    (re.compile(r"no execution with id"), "execution_id"),
    (re.compile(r"no context with id"), "context_id"),
    (re.compile(r"with this name already exists"), "name"),
    (re.compile(r"with this external_id already exists|external_id .* already"), "external_id"),
    (re.compile(r"next_page_token"), "cursor"),
    (re.compile(r"filter_query"), "filter"),
    (re.compile(r"a context needs a non-empty name"), "name"),
    (re.compile(r"property \S+ is stored as|already exists without properties|properties .* that the request omits"), "properties"),
    (re.compile(r"already a parent|own parent|own ancestor"), "parent_id"),
    (re.compile(r"event .*already exists|this event already exists"), "type"),
    (re.compile(r"updated at \d+, after the given"), "last_update_time_since_epoch"),
]
_POSITION = re.compile(r"\b(Artifact|Execution|Context|Event|ParentContext) #(\d+)|pair #(\d+)")


# Names the core uses for what the REST API calls otherwise.
_RENAMED = {"filter_query": "filter", "next_page_token": "cursor"}


def core_error_field(error: MetadataStoreError) -> str | None:
    """The request field a store error is about, when it can be told."""
    if error.field:
        return _RENAMED.get(error.field, error.field)
    for pattern, template in _FIELD_PATTERNS:
        match = pattern.search(error.message)
        if match:
            return template.format(*match.groups())
    return None


def core_error_position(error: MetadataStoreError) -> tuple[str, int] | None:
    """('Artifact', 2) for "Artifact #2: ..." messages: which item of a request failed."""
    match = _POSITION.search(error.message)
    if not match:
        return None
    if match.group(3) is not None:
        return ("pair", int(match.group(3)))
    return (match.group(1), int(match.group(2)))


class LocatedError(Exception):
    """A store error with the request field it is about, as the view located it."""

    def __init__(self, error: MetadataStoreError, field: str | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.field = field


def _code(error: MetadataStoreError) -> str:
    return error.grpc_code.name.lower()


def _body(code: str, detail: str, field: str | None, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"code": code, "detail": detail, "field": field, "errors": errors or [{"field": field, "detail": detail}]}


def _flatten(detail: Any, prefix: str = "") -> Iterator[tuple[str | None, str]]:
    """DRF's nested validation errors as (field path, message) pairs."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # list items (ListSerializer, ListField) are keyed by index
                yield from _flatten(value, f"{prefix}[{key}]")
                continue
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            yield from _flatten(value, path)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            for item in detail:
                yield (prefix or None, str(item))
        else:
            for index, item in enumerate(detail):
                if item:
                    yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield (prefix or None, str(detail))


def store_error_response(error: MetadataStoreError, field: str | None = None) -> Response:
    field = field if field is not None else core_error_field(error)
    detail = error.message.replace("next_page_token", "cursor") if field == "cursor" else error.message
    body = _body(_code(error), detail, field)
    position = getattr(error, "position", None)
    if isinstance(position, int):
        body["position"] = position
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(error, Aborted) else None
    if error.http_status >= 500 and not isinstance(error, Aborted):
        logger.error("store error answered %s: %s", error.http_status, error.message)
    return Response(body, status=error.http_status, headers=headers)


def _api_exception_response(exc: exceptions.APIException) -> Response:
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    codes = exc.get_codes()
    if isinstance(exc, exceptions.ValidationError):
        pairs = list(_flatten(exc.detail)) or [(None, "invalid request")]
        errors = [{"field": f, "detail": d} for f, d in pairs]
        first_field, first_detail = pairs[0]
        detail = first_detail if first_field is None else f"{first_field}: {first_detail}"
        return Response(_body("invalid", detail, first_field, errors), status=exc.status_code, headers=headers)
    code = codes if isinstance(codes, str) else exc.default_code
    field = getattr(exc, "field", None)
    if isinstance(exc, exceptions.ParseError):
        field = field or "body"
    return Response(_body(str(code), str(exc.detail), field), status=exc.status_code, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: the one place errors become responses."""
    if isinstance(exc, LocatedError):
        return store_error_response(exc.error, exc.field)
    if isinstance(exc, MetadataStoreError):
        return store_error_response(exc)
    if isinstance(exc, DatabaseError):
        # One the core did not translate (a view's own transaction, an Idempotency-Key row):
        # the core's statuses, so a busy database is 503 with Retry-After here too, not 500.
        view = context.get("view")
        return store_error_response(translate_database_error(exc, type(view).__name__ if view else "REST API"))
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, RecursionError):
        exc = BadRequest("The request nests too deeply.", "body", "parse_error")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, exceptions.APIException):
        pass
    else:
        view = context.get("view")
        logger.exception("unexpected error in %s", type(view).__name__ if view else "the REST API")
        return Response(
            _body("internal", "Internal error; the server log has the details.", None),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return _api_exception_response(exc)


def locate(error: MetadataStoreError, where: Callable[[str, int], str | None]) -> LocatedError:
    """Attach the request field to a core error, with ``where(kind, index)`` giving the item's prefix."""
    field = core_error_field(error)
    position = core_error_position(error)
    prefix = where(*position) if position else None
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    return LocatedError(error, field)
