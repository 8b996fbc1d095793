"""Retention: removing a context's run for good (MLMD itself never deletes).

A run is a context and the executions associated with it.  Deleting it removes
the context, those executions, their events, and the artifacts that only they
produced: an artifact one of them wrote is kept when any execution outside the
run also read or wrote it, so the lineage of everything that remains keeps all
of its nodes and events.  Memberships and property rows of what is removed go
with it.  One transaction per run: a run is gone whole or not at all.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from store.choices import OUTPUT_EVENT_TYPES
from store.models import (
    Artifact,
    ArtifactProperty,
    Association,
    Attribution,
    Context,
    ContextProperty,
    Event,
    Execution,
    ExecutionProperty,
    ParentContext,
    Type,
)
from store.services.errors import NotFound
from store.services.transactions import request_transaction

_CHUNK = 500


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


@dataclass
class RunDeletion:
    """What deleting a context's run removes (or, in a dry run, would remove)."""

    context_id: int
    context_name: str
    context_type: str
    dry_run: bool
    execution_ids: list[int] = field(default_factory=list)
    artifact_ids: list[int] = field(default_factory=list)
    kept_artifact_ids: list[int] = field(default_factory=list)
    events: int = 0
    attributions: int = 0
    associations: int = 0
    parent_links: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def delete_context_run(context_id: int, *, dry_run: bool = False) -> RunDeletion:
    """Remove a context with its executions, their events and the artifacts only they produced."""
    with request_transaction():
        context = Context.objects.select_for_update().filter(id=context_id).first()
        if context is None:
            raise NotFound(f"no context with id {context_id}", field="id")
        report = _plan(context, dry_run)
        if not dry_run:
            _delete(report)
        return report


def _plan(context: Context, dry_run: bool) -> RunDeletion:
    type_name = Type.objects.filter(id=context.type_id).values_list("name", flat=True).first() or ""
    report = RunDeletion(context.id, context.name, type_name, dry_run)
    executions = sorted(set(Association.objects.filter(context_id=context.id).values_list("execution_id", flat=True)))
    produced: set[int] = set()
    for chunk in _chunks(executions):
        produced.update(
            Event.objects.filter(execution_id__in=chunk, type__in=OUTPUT_EVENT_TYPES).values_list("artifact_id", flat=True)
        )
    # Lock the candidates first, so no writer can attach a new event to one of
    # them between the check below and the delete.
    for chunk in _chunks(produced):
        list(Artifact.objects.select_for_update().filter(id__in=chunk).values_list("id", flat=True))
    run = set(executions)
    used_elsewhere: set[int] = set()
    for chunk in _chunks(produced):
        used_elsewhere.update(
            artifact_id
            for artifact_id, execution_id in Event.objects.filter(artifact_id__in=chunk).values_list(
                "artifact_id", "execution_id"
            )
            if execution_id not in run
        )
    report.execution_ids = executions
    report.artifact_ids = sorted(produced - used_elsewhere)
    report.kept_artifact_ids = sorted(produced & used_elsewhere)
    report.events = sum(Event.objects.filter(execution_id__in=c).count() for c in _chunks(executions))
    report.associations = Association.objects.filter(context_id=context.id).count() + sum(
        Association.objects.filter(execution_id__in=c).exclude(context_id=context.id).count() for c in _chunks(executions)
    )
    report.attributions = Attribution.objects.filter(context_id=context.id).count() + sum(
        Attribution.objects.filter(artifact_id__in=c).exclude(context_id=context.id).count()
        for c in _chunks(report.artifact_ids)
    )
    report.parent_links = ParentContext.objects.filter(context_id=context.id).count() + ParentContext.objects.filter(
        parent_id=context.id
    ).count()
    return report


def _delete(report: RunDeletion) -> None:
    """Dependants first, so that no cascade has anything left to collect."""
    executions, artifacts = report.execution_ids, report.artifact_ids
    for chunk in _chunks(executions):
        Event.objects.filter(execution_id__in=chunk).delete()
        Association.objects.filter(execution_id__in=chunk).delete()
        ExecutionProperty.objects.filter(execution_id__in=chunk).delete()
    for chunk in _chunks(artifacts):
        Attribution.objects.filter(artifact_id__in=chunk).delete()
        ArtifactProperty.objects.filter(artifact_id__in=chunk).delete()
    Attribution.objects.filter(context_id=report.context_id).delete()
    Association.objects.filter(context_id=report.context_id).delete()
    ParentContext.objects.filter(context_id=report.context_id).delete()
    ParentContext.objects.filter(parent_id=report.context_id).delete()
    ContextProperty.objects.filter(context_id=report.context_id).delete()
    for chunk in _chunks(executions):
        Execution.objects.filter(id__in=chunk).delete()
    for chunk in _chunks(artifacts):
        Artifact.objects.filter(id__in=chunk).delete()
    Context.objects.filter(id=report.context_id).delete()


def contexts_created_before(before_ms: int, context_type: str | None = None) -> list[int]:
    """Ids of the contexts created before a time (ms since the epoch), optionally of one type."""
    queryset = Context.objects.filter(create_time_since_epoch__lt=before_ms)
    if context_type:
        queryset = queryset.filter(type__name=context_type)
    return list(queryset.order_by("id").values_list("id", flat=True))
