"""Cache lookup: was this step already run on the same inputs?

Given an execution type, its properties and its input artifacts, find earlier
executions of that type that finished (COMPLETE or CACHED) with exactly the
same input artifacts and the same declared property values, newest first,
together with the artifacts they output, so a pipeline can reuse them.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from store.choices import INPUT_EVENT_TYPES, OUTPUT_EVENT_TYPES, ExecutionState
from store.models import Event, Execution
from store.proto import metadata_store_pb2 as pb
from store.services.errors import InvalidArgument
from store.services.kinds import ARTIFACT, EXECUTION
from store.services.nodes import node_protos, nodes_by_ids

FINISHED_STATES = (ExecutionState.COMPLETE, ExecutionState.CACHED)


@dataclass
class CacheHit:
    execution: Any  # pb.Execution
    outputs: list[Any]  # pb.Artifact


def _same_values(wanted: Mapping[str, pb.Value], stored: Mapping[str, pb.Value]) -> bool:
    if set(wanted) != set(stored):
        return False
    return all(wanted[name] == stored[name] for name in wanted)


def lookup(
    type_id: int,
    input_artifact_ids: Sequence[int],
    properties: Mapping[str, pb.Value],
    *,
    limit: int = 20,
) -> list[CacheHit]:
    """Earlier finished executions of ``type_id`` with exactly these inputs and properties."""
    inputs = set(input_artifact_ids)
    candidates = Execution.objects.filter(type_id=type_id, last_known_state__in=FINISHED_STATES)
    if inputs:
        matching = (
            Event.objects.filter(type__in=INPUT_EVENT_TYPES, artifact_id__in=inputs)
            .values("execution_id")
            .annotate(n=Count("artifact_id", distinct=True))
            .filter(n=len(inputs))
            .values("execution_id")
        )
        candidates = candidates.filter(id__in=matching)
    # Executions with inputs beyond the given ones are not the same step run.
    total_inputs = dict(
        Event.objects.filter(type__in=INPUT_EVENT_TYPES, execution__in=candidates)
        .values("execution_id")
        .annotate(n=Count("artifact_id", distinct=True))
        .values_list("execution_id", "n")
    )
    ids = [
        e
        for e in candidates.order_by("-create_time_since_epoch", "-id").values_list("id", flat=True)[: limit * 10]
        if total_inputs.get(e, 0) == len(inputs)
    ]
    hits: list[CacheHit] = []
    executions = [e for e in node_protos(EXECUTION, Execution.objects.filter(id__in=ids)) if _same_values(properties, e.properties)]
    executions.sort(key=lambda e: (-e.create_time_since_epoch, -e.id))
    executions = executions[:limit]
    outputs: dict[int, list[int]] = defaultdict(list)
    for execution_id, artifact_id in (
        Event.objects.filter(execution_id__in=[e.id for e in executions], type__in=OUTPUT_EVENT_TYPES)
        .order_by("id")
        .values_list("execution_id", "artifact_id")
    ):
        outputs[execution_id].append(artifact_id)
    artifacts = {a.id: a for a in nodes_by_ids(ARTIFACT, {a for ids_ in outputs.values() for a in ids_})}
    for execution in executions:
        hits.append(CacheHit(execution, [artifacts[a] for a in outputs[execution.id] if a in artifacts]))
    return hits


def lookup_like(execution_id: int, *, limit: int = 20) -> list[CacheHit]:
    """Earlier runs of the same step as a stored execution (same type, inputs, properties), excluding itself."""
    rows = node_protos(EXECUTION, Execution.objects.filter(id=execution_id))
    if not rows:
        raise InvalidArgument(f"no execution with id {execution_id}")
    execution = rows[0]
    inputs = list(
        Event.objects.filter(execution_id=execution_id, type__in=INPUT_EVENT_TYPES).values_list("artifact_id", flat=True)
    )
    hits = lookup(execution.type_id, inputs, execution.properties, limit=limit + 1)
    return [h for h in hits if h.execution.id != execution_id][:limit]
