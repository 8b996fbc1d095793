"""The one filter definition of node lists: query parameters to a queryset.

Used by every node list of the REST API and free of DRF, so the dashboard's
tables and search box can use it too::

    queryset, scope = NodeFilterSet(ARTIFACT).apply(Artifact.objects.all(), request.GET)

Parameters (all optional, combined with AND):

- ``type`` (name, with ``type_version``), ``type_id``
- ``name``, ``external_id``; ``uri`` (artifacts)
- ``state``: one or more comma-separated names (artifacts: LIVE, DELETED...;
  executions: COMPLETE, FAILED...)
- ``context``: id of a context the node belongs to (artifacts, executions);
  ``parent``/``child``: id of a parent/child context (contexts)
- ``created_after``, ``created_before``, ``updated_after``, ``updated_before``:
  ISO 8601 date or date-time (UTC when no zone is given) or ms since the epoch
- ``filter``: an MLMD filter query, compiled by the store's filter-query
  compiler (applied by the lister, so that a page cursor is bound to it)

A bad value raises InvalidArgument naming the parameter.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from store.choices import ArtifactState, ExecutionState
from store.services.errors import InvalidArgument
from store.services.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind

INT64_MAX = 2**63 - 1
PAGING_PARAMETERS = frozenset({"cursor", "page_size", "ordering", "filter", "format"})


def parse_id(raw: str, parameter: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) <= INT64_MAX:
        raise InvalidArgument(f"{parameter} must be a positive integer id, not {raw[:40]!r}", field=parameter)
    return int(raw)


def parse_time_ms(raw: str, parameter: str) -> int:
    """ms since the epoch from an ISO 8601 date/date-time or an integer."""
    text = raw.strip()
    if text.lstrip("-").isdigit():
        value = int(text)
        if abs(value) > INT64_MAX:
            raise InvalidArgument(f"{parameter} is out of range", field=parameter)
        return value
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            if day is not None:
                moment = datetime.combine(day, time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidArgument(
            f"{parameter} must be an ISO 8601 date or date-time, or ms since the epoch, not {raw[:40]!r}", field=parameter
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _states(kind: NodeKind) -> dict[str, int]:
    enum = ArtifactState if kind is ARTIFACT else ExecutionState
    return {s.label: s.value for s in enum}


@dataclass(frozen=True)
class _Param:
    name: str
    apply: Callable[[QuerySet[Any], str], QuerySet[Any]]


class NodeFilterSet:
    """The filters of one node kind's lists."""

    def __init__(self, kind: NodeKind) -> None:
        self.kind = kind
        self.params = {p.name: p for p in self._params()}

    @property
    def names(self) -> list[str]:
        return [*sorted(self.params), "type_version"]

    def _params(self) -> list[_Param]:
        kind = self.kind
        params = [
            _Param("type", lambda q, v: q),  # applied with type_version in apply()
            _Param("type_id", lambda q, v: q.filter(type_id=parse_id(v, "type_id"))),
            _Param("name", lambda q, v: q.filter(name=v)),
            _Param("external_id", lambda q, v: q.filter(external_id=v)),
            _Param("created_after", lambda q, v: q.filter(create_time_since_epoch__gte=parse_time_ms(v, "created_after"))),
            _Param("created_before", lambda q, v: q.filter(create_time_since_epoch__lt=parse_time_ms(v, "created_before"))),
            _Param(
                "updated_after", lambda q, v: q.filter(last_update_time_since_epoch__gte=parse_time_ms(v, "updated_after"))
            ),
            _Param(
                "updated_before", lambda q, v: q.filter(last_update_time_since_epoch__lt=parse_time_ms(v, "updated_before"))
            ),
        ]
        if kind is ARTIFACT:
            params.append(_Param("uri", lambda q, v: q.filter(uri=v)))
            params.append(_Param("context", lambda q, v: q.filter(attributions__context_id=parse_id(v, "context"))))
        if kind is EXECUTION:
            params.append(_Param("context", lambda q, v: q.filter(associations__context_id=parse_id(v, "context"))))
        if kind.state_field:
            params.append(_Param("state", self._filter_state))
        if kind is CONTEXT:
            params.append(_Param("parent", lambda q, v: q.filter(parent_links__parent_id=parse_id(v, "parent"))))
            params.append(_Param("child", lambda q, v: q.filter(child_links__context_id=parse_id(v, "child"))))
        return params

    def _filter_state(self, queryset: QuerySet[Any], raw: str) -> QuerySet[Any]:
        states = _states(self.kind)
        wanted = []
        for name in (part.strip().upper() for part in raw.split(",")):
            if name not in states:
                raise InvalidArgument(f"state {name!r} is not one of {sorted(states, key=states.get)}", field="state")
            wanted.append(states[name])
        return queryset.filter(**{f"{self.kind.state_field}__in": wanted})

    def apply(self, queryset: QuerySet[Any], query: Mapping[str, str]) -> tuple[QuerySet[Any], str]:
        """The filtered queryset and a canonical text of the filters (binds a page cursor to them)."""
        unknown = sorted(set(query) - set(self.names) - PAGING_PARAMETERS)
        if unknown:
            raise InvalidArgument(
                f"unknown query parameter {unknown[0]!r}; the filters are {self.names}", field=unknown[0]
            )
        used: dict[str, str] = {}
        for name, param in self.params.items():
            raw = query.get(name)
            if raw is None:
                continue
            used[name] = raw
            queryset = param.apply(queryset, raw)
        if "type" in query:
            version = query.get("type_version", "")
            used["type_version"] = version
            queryset = queryset.filter(type__kind=self.kind.type_kind, type__name=query["type"], type__version=version)
        elif "type_version" in query:
            raise InvalidArgument("type_version needs type", field="type_version")
        return queryset, json.dumps(used, sort_keys=True)
