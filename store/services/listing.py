"""Paged, ordered, filtered node lists (MLMD's ListOperationOptions).

Paging is by key, not by offset: a page token holds the order value and id of
the last node returned, so rows written between two pages neither repeat nor
hide rows of the next page.  A token also carries a digest of the query it
belongs to; a token from another query, or one that was tampered with, is
refused as INVALID_ARGUMENT.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import Q, QuerySet

from store.db import current_alias
from store.proto import metadata_store_pb2 as pb
from store.services import sql
from store.services.errors import InvalidArgument
from store.services.filter_query import check_filter, filter_nodes
from store.services.kinds import KINDS, NodeKind
from store.services.nodes import node_protos, read_columns
from store.services.sql import fetch_queryset

_ORDER_COLUMNS = {
    pb.ListOperationOptions.OrderByField.CREATE_TIME: "create_time_since_epoch",
    pb.ListOperationOptions.OrderByField.LAST_UPDATE_TIME: "last_update_time_since_epoch",
    pb.ListOperationOptions.OrderByField.ID: "id",
    pb.ListOperationOptions.OrderByField.FIELD_UNSPECIFIED: "id",
}


def _digest(kind: NodeKind, scope: str, column: str, ascending: bool, filter_query: str) -> str:
    raw = json.dumps([kind.name, scope, column, ascending, filter_query])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_token(last_value: int, last_id: int, digest: str) -> str:
    payload = json.dumps({"v": last_value, "i": last_id, "d": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, digest: str) -> tuple[int, int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        value, last_id, token_digest = payload["v"], payload["i"], payload["d"]
        if not isinstance(value, int) or not isinstance(last_id, int):
            raise ValueError("non-integer position")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"next_page_token {token[:40]!r} is malformed") from exc
    if token_digest != digest:
        raise InvalidArgument(
            "next_page_token belongs to another query (its order, filter or scope differ from this request's)"
        )
    return value, last_id


@dataclass(frozen=True)
class Scope:
    """The rows of a list as plain SQL: ``joins`` after ``FROM <node table> n``, a ``where`` on them.

    Given with the queryset of the same rows, it lets a list without a filter
    query skip building an ORM query (which costs more than running it).
    """

    joins: str = ""
    where: str = "1 = 1"
    params: tuple[Any, ...] = ()


def list_nodes(
    kind: NodeKind,
    rows: Callable[[], QuerySet[Any]],
    options: Any | None,
    *,
    scope: str = "",
    into: Any = None,
    plain: Scope | None = None,
) -> tuple[list[Any], str]:
    """One page of nodes as messages, and the token of the next page ('' when none).

    ``rows``: a function that makes the queryset of the nodes to list (building
    a queryset costs more than a plain page's whole query: with ``plain`` it is
    made only when a filter query needs it).
    ``into``: the response's repeated field to build them in (see ``nodes.node_protos``).
    ``plain``: the same rows, in plain SQL (used when there is no filter query).
    """
    filter_query = options.filter_query if options is not None and options.HasField("filter_query") else ""
    if plain is not None and not filter_query:
        return _plain_page(kind, plain, options, scope, into)
    if options is None:
        return node_protos(kind, rows().order_by("id"), into=into), ""
    if filter_query:
        # Checked before the options, so that a bad query is the error a caller sees first.
        check_filter(kind.name, filter_query)
    column, ascending, limit = _order(options)
    digest = _digest(kind, scope, column, ascending, filter_query)
    position = None
    if options.HasField("next_page_token") and options.next_page_token:
        position = decode_token(options.next_page_token, digest)
    if plain == Scope() and filter_query:
        # A filtered list of all the nodes: its statement is compiled once per filter (and order and page size).
        statement = _filtered_statement(
            current_alias(), kind.name, filter_query, column, ascending, limit, position is not None
        )
        if statement is not None:
            return _page(kind, statement.rows(position), limit, column, digest, into)
    page = _page_queryset(kind, rows(), filter_query, column, ascending, limit, position)
    return _page(kind, fetch_queryset(page, read_columns(kind)), limit, column, digest, into)


def _page_queryset(
    kind: NodeKind,
    queryset: QuerySet[Any],
    filter_query: str,
    column: str,
    ascending: bool,
    limit: int,
    position: tuple[int, int] | None,
) -> QuerySet[Any]:
    """The rows of one page (and one more) of ``queryset``: after ``position`` (order value, id), filtered, ordered."""
    id_bound = None
    if position is not None:
        value, last_id = position
        if column == "id":
            id_bound = ("gt" if ascending else "lt", last_id)
            queryset = queryset.filter(**{f"id__{id_bound[0]}": last_id})
        elif ascending:
            queryset = queryset.filter(Q(**{f"{column}__gt": value}) | Q(**{column: value, "id__gt": last_id}))
        else:
            queryset = queryset.filter(Q(**{f"{column}__lt": value}) | Q(**{column: value, "id__lt": last_id}))
    if filter_query:
        queryset = filter_nodes(queryset, kind.name, filter_query, id_bound=id_bound)
    ordering = [column, "id"] if column != "id" else ["id"]
    if not ascending:
        ordering = [f"-{c}" for c in ordering]
    return queryset.order_by(*ordering)[: limit + 1]


@dataclass(frozen=True)
class _Statement:
    """A page's SQL with its parameters; ``slots`` are where the page position goes ((index, "value" or "id"))."""

    text: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]
    empty: bool = False  # the filter matches nothing, whatever the data

    def rows(self, position: tuple[int, int] | None) -> list[tuple[Any, ...]]:
        if self.empty:
            return []
        params = list(self.params)
        if position is not None:
            place = {"value": position[0], "id": position[1]}
            for index, which in self.slots:
                params[index] = place[which]
        return sql.fetchall(self.text, params)


# Two different stand-ins for a page position's (order value, id): where the two compiled statements
# differ is where the position goes.  Anything else that differs (none is known) skips the cache.
_STAND_INS = ((-(2**62) + 11, -(2**62) + 13), (-(2**62) + 17, -(2**62) + 19))


@lru_cache(maxsize=256)
def _filtered_statement(
    alias: str, kind_name: str, filter_query: str, column: str, ascending: bool, limit: int, paged: bool
) -> _Statement | None:
    """The statement of a page of a filtered list of all the ``kind_name`` nodes, or None (compile it each time).

    Building the filter's ORM query and compiling it cost more than running it,
    and a client pages through a list with the same filter.  The SQL depends
    only on the arguments: the filter compiler reads no data, and the statement
    is what the connection of ``alias`` compiles.
    """
    kind = KINDS[kind_name]
    compiled = []
    for stand_in in _STAND_INS:
        page = _page_queryset(
            kind, kind.model.objects.all(), filter_query, column, ascending, limit, stand_in if paged else None
        )
        try:
            compiled.append(page.values_list(*read_columns(kind)).query.get_compiler(using=alias).as_sql())
        except EmptyResultSet:
            return _Statement("", (), (), empty=True)
    (text, params), (other_text, other_params) = compiled
    if text != other_text or len(params) != len(other_params):
        return None
    slots = []
    for index, (first, second) in enumerate(zip(params, other_params, strict=True)):
        if first == second:
            continue
        if (first, second) == (_STAND_INS[0][0], _STAND_INS[1][0]):
            slots.append((index, "value"))
        elif (first, second) == (_STAND_INS[0][1], _STAND_INS[1][1]):
            slots.append((index, "id"))
        else:
            return None
    return _Statement(text, tuple(params), tuple(slots))


def _order(options: Any) -> tuple[str, bool, int]:
    """(order column, ascending, page size) of list options."""
    order = options.order_by_field
    column = _ORDER_COLUMNS.get(order.field if order.HasField("field") else pb.ListOperationOptions.OrderByField.ID)
    if column is None:
        raise InvalidArgument(f"order_by_field.field {order.field} is not one of CREATE_TIME, LAST_UPDATE_TIME, ID")
    ascending = order.is_asc if order.HasField("is_asc") else True
    limit = options.max_result_size if options.HasField("max_result_size") else 20
    if limit <= 0:
        raise InvalidArgument(f"max_result_size must be positive, got {limit}")
    return column, ascending, limit


def _plain_page(kind: NodeKind, plain: Scope, options: Any | None, scope: str, into: Any) -> tuple[list[Any], str]:
    """``list_nodes`` without a filter query, in plain SQL: the same pages and tokens."""
    names = read_columns(kind)
    head = f"SELECT {', '.join('n.' + sql.quote(name) for name in names)} FROM {sql.table(kind.model)} n {plain.joins}"
    if options is None:
        rows = sql.fetchall(f"{head} WHERE {plain.where} ORDER BY n.id", plain.params)
        return node_protos(kind, rows, into=into), ""
    column, ascending, limit = _order(options)
    digest = _digest(kind, scope, column, ascending, "")
    where, params = [plain.where], list(plain.params)
    compare = ">" if ascending else "<"
    if options.HasField("next_page_token") and options.next_page_token:
        value, last_id = decode_token(options.next_page_token, digest)
        if column == "id":
            where.append(f"n.id {compare} %s")
            params.append(last_id)
        else:
            quoted = f"n.{sql.quote(column)}"
            where.append(f"({quoted} {compare} %s OR ({quoted} = %s AND n.id {compare} %s))")
            params.extend([value, value, last_id])
    direction = "ASC" if ascending else "DESC"
    ordering = f"n.id {direction}" if column == "id" else f"n.{sql.quote(column)} {direction}, n.id {direction}"
    rows = sql.fetchall(f"{head} WHERE {' AND '.join(where)} ORDER BY {ordering} LIMIT %s", [*params, limit + 1])
    return _page(kind, rows, limit, column, digest, into)


def _page(
    kind: NodeKind, rows: list[tuple[Any, ...]], limit: int, column: str, digest: str, into: Any
) -> tuple[list[Any], str]:
    """The messages of a page fetched with one row more than ``limit``, and the next page's token."""
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_token = encode_token(last[read_columns(kind).index(column)], last[0], digest)
    return node_protos(kind, rows, into=into), next_token
