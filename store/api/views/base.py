"""What every REST view shares: body size limit, ids in paths, validation, idempotent writes."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from store.api.errors import NotFoundError, PayloadTooLarge, locate
from store.proto import metadata_store_service_pb2 as svc
from store.services import api, idempotency
from store.services.errors import MetadataStoreError
from store.services.retry import run_with_retry

INT64_MAX = 2**63 - 1
IDEMPOTENCY_HEADER = "Idempotency-Key"

Where = Callable[[str, int], str | None]


def refuse_oversize(request: Request) -> None:
    """413 before anything reads a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = request.META.get("CONTENT_LENGTH") or ""
    if limit is not None and raw.isdigit() and int(raw) > limit:
        raise PayloadTooLarge(f"The request body has {int(raw)} bytes; the limit is {limit} (DATA_UPLOAD_MAX_MEMORY_SIZE).")


def path_id(raw: Any, what: str) -> int:
    """The integer id in a URL; anything else is a 404 (no such resource)."""
    text = str(raw)
    if not text.isdigit() or not 0 < int(text) <= INT64_MAX:
        raise NotFoundError(f"no {what} with id {text[:40]!r}", "id")
    return int(text)


def validated(serializer_class: type[serializers.Serializer], data: Any, *, many: bool = False) -> Any:
    serializer = serializer_class(data=data, many=many)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def validated_items(serializer_class: type[serializers.Serializer], request: Request) -> tuple[list[Any], bool]:
    """A body that is one object or a list of them (bulk), validated; and whether it was a list."""
    data = request.data
    if isinstance(data, list):
        return list(validated(serializer_class, data, many=True)), True
    return [validated(serializer_class, data)], False


def store_call(method: str, request: Any, where: Where | None = None) -> Any:
    """Run one core method; a store error is answered with the request field it is about."""
    try:
        return api.call(method, request)
    except MetadataStoreError as exc:
        raise locate(exc, where or (lambda _kind, _index: None)) from exc


def by_position(many: bool) -> Where:
    """For a bulk request, "Artifact #2" is the item at [2]."""
    return lambda _kind, index: f"[{index}]" if many else None


def write_response(request: Request, write: Callable[[], tuple[int, Any]]) -> Response:
    """Run a write; with an Idempotency-Key header, at most once per key (per user)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        status, body = write()
        return Response(body, status=status)
    digest = idempotency.fingerprint(request.method or "", request.path, request.data)
    # run_with_retry owns the transaction (run_once's own atomic block becomes a savepoint in it), so a
    # deadlock during the write runs the key's check, the write and the stored answer again, together.
    # A database error of the key's own rows is translated by the exception handler (store.api.errors).
    outcome = run_with_retry(lambda: idempotency.run_once(request.user.pk, key, digest, write))
    response = Response(outcome.body, status=outcome.status)
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class StoreViewSet(viewsets.ViewSet):
    """A resource of the store.  ``read_actions`` are POST actions that only read."""

    read_actions: tuple[str, ...] = ()
    staff_actions: tuple[str, ...] = ()
    lookup_value_regex = r"[^/]+"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        refuse_oversize(request)
        super().initial(request, *args, **kwargs)


__all__ = ["StoreViewSet", "by_position", "path_id", "store_call", "svc", "validated", "validated_items", "write_response"]
