"""Cursor pagination of every list: ``?page_size=``, ``?ordering=``, ``?cursor=``.

Node lists page through the store's lister (MLMD's ListOperationOptions, keyset
pages whose token is bound to the query); other lists (types, events,
memberships) page by id with the same kind of token.  A cursor from another
query, or a damaged one, is a 400 naming ``cursor``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from store.proto import metadata_store_pb2 as pb
from store.services.errors import InvalidArgument
from store.services.listing import decode_token, encode_token

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_ORDER = pb.ListOperationOptions.OrderByField
ORDERINGS: dict[str, tuple[int, bool]] = {
    "id": (_ORDER.ID, True),
    "-id": (_ORDER.ID, False),
    "create_time": (_ORDER.CREATE_TIME, True),
    "-create_time": (_ORDER.CREATE_TIME, False),
    "last_update_time": (_ORDER.LAST_UPDATE_TIME, True),
    "-last_update_time": (_ORDER.LAST_UPDATE_TIME, False),
}


def page_size(query: Mapping[str, str]) -> int:
    raw = query.get("page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, not {raw[:20]!r}", field="page_size")
    return int(raw)


def list_options(query: Mapping[str, str]) -> pb.ListOperationOptions:
    """MLMD list options from the query: page size, ordering, cursor and filter query."""
    options = pb.ListOperationOptions(max_result_size=page_size(query))
    ordering = query.get("ordering", "id")
    if ordering not in ORDERINGS:
        raise InvalidArgument(f"ordering must be one of {sorted(ORDERINGS)}, not {ordering[:40]!r}", field="ordering")
    field, ascending = ORDERINGS[ordering]
    options.order_by_field.field = field  # type: ignore[assignment]
    options.order_by_field.is_asc = ascending
    if query.get("cursor"):
        options.next_page_token = query["cursor"]
    if query.get("filter", "").strip():
        options.filter_query = query["filter"]
    return options


def page(request: Request, results: list[Any], token: str) -> dict[str, Any]:
    return {
        "results": results,
        "next_cursor": token or None,
        "next": replace_query_param(request.build_absolute_uri(), "cursor", token) if token else None,
    }


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def id_page(queryset: QuerySet[Any], query: Mapping[str, str], scope: str) -> tuple[list[Any], str]:
    """One page of rows in id order (``ordering`` id or -id) and the next page's cursor."""
    ordering = query.get("ordering", "id")
    if ordering not in ("id", "-id"):
        raise InvalidArgument(f"ordering must be 'id' or '-id' here, not {ordering[:40]!r}", field="ordering")
    ascending = ordering == "id"
    limit = page_size(query)
    digest = _digest(f"{scope}|{ordering}")
    cursor = query.get("cursor")
    if cursor:
        try:
            _value, last_id = decode_token(cursor, digest)
        except InvalidArgument as exc:
            raise InvalidArgument(exc.message.replace("next_page_token", "cursor"), field="cursor") from exc
        queryset = queryset.filter(id__gt=last_id) if ascending else queryset.filter(id__lt=last_id)
    rows = list(queryset.order_by("id" if ascending else "-id")[: limit + 1])
    token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        token = encode_token(rows[-1].id, rows[-1].id, digest)
    return rows, token


def check_parameters(query: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(query) - allowed - {"cursor", "page_size", "ordering", "format"})
    if unknown:
        raise InvalidArgument(f"unknown query parameter {unknown[0]!r}; this list takes {sorted(allowed)}", field=unknown[0])
