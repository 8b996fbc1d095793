"""Runs and graphs: record a run, cache lookup, lineage, a context's DAG, hard delete of a run."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store.api.errors import BadRequest
from store.api.messages import (
    EVENT_TYPE_BY_NAME,
    TypeIndex,
    artifact_ids_of,
    execution_type_of,
    fill_path,
    node_message,
    to_value,
    type_ids,
    type_keys,
)
from store.api.shapes import graph_json, node_json, nodes_json
from store.api.views.base import store_call
from store.choices import TypeKind
from store.models import Association, Attribution, Context, Event
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import cache, lineage, retention
from store.services.kinds import ARTIFACT, CONTEXT, EXECUTION
from store.services.nodes import nodes_by_ids
from store.services.retry import run_read
from store.services.types import declared_properties

DEFAULT_HOPS = 20
MAX_HOPS = 10_000
_DIRECTIONS = {"upstream": lineage.UPSTREAM, "downstream": lineage.DOWNSTREAM, "both": lineage.BIDIRECTIONAL}


def flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "false").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise BadRequest(f"{name} must be true or false, not {raw[:20]!r}", name)


def _ordered(kind: Any, ids: list[int]) -> list[dict[str, Any]]:
    by_id = {m.id: m for m in nodes_by_ids(kind, ids)}
    return [node_json(kind, by_id[i]) for i in ids if i in by_id]


# ---------------------------------------------------------------------------- record


def _execution_request(data: Mapping[str, Any]) -> tuple[svc.PutExecutionRequest, list[int]]:
    execution = data["execution"]
    execution_type = execution_type_of(execution, "execution.")
    declared = declared_properties([execution_type.id]).get(execution_type.id, {})
    request = svc.PutExecutionRequest(execution=node_message(EXECUTION, execution, execution_type, declared, "execution."))
    request.options.reuse_context_if_already_exist = True
    request.options.force_reuse_context = True  # a context given by id is used as stored
    input_ids = artifact_ids_of(data["inputs"], "inputs")
    for ref, artifact_id in zip(data["inputs"], input_ids, strict=True):
        pair = request.artifact_event_pairs.add()
        pair.event.artifact_id = artifact_id
        pair.event.type = EVENT_TYPE_BY_NAME[ref["event_type"]]  # type: ignore[assignment]
        fill_path(pair.event, ref.get("path"))
    outputs = data["outputs"]
    output_types = TypeIndex(TypeKind.ARTIFACT, type_keys(outputs), type_ids(outputs))
    for position, output in enumerate(outputs):
        prefix = f"outputs[{position}]."
        row = output_types.resolve(output, prefix)
        pair = request.artifact_event_pairs.add()
        pair.artifact.CopyFrom(node_message(ARTIFACT, output, row, output_types.declared.get(row.id, {}), prefix))
        pair.event.type = EVENT_TYPE_BY_NAME[output["event_type"]]  # type: ignore[assignment]
        fill_path(pair.event, output.get("path"))
    _add_contexts(request, data["contexts"])
    return request, input_ids


def _add_contexts(request: svc.PutExecutionRequest, contexts: list[Mapping[str, Any]]) -> None:
    named = [c for c in contexts if "id" not in c]
    context_types = TypeIndex(TypeKind.CONTEXT, type_keys(named))
    given = {c["id"] for c in contexts if "id" in c}
    known = set(Context.objects.filter(id__in=given).values_list("id", flat=True)) if given else set()
    for position, context in enumerate(contexts):
        if "id" in context:
            if context["id"] not in known:
                raise BadRequest(f"no context with id {context['id']}", f"contexts[{position}].id", "not_found")
            request.contexts.add(id=context["id"])
            continue
        prefix = f"contexts[{position}]."
        row = context_types.resolve(context, prefix)
        request.contexts.add().CopyFrom(node_message(CONTEXT, context, row, context_types.declared.get(row.id, {}), prefix))


def _record_position(inputs: int) -> Any:
    """Where a core error about an item of the PutExecution points in the record body."""

    def where(kind: str, index: int) -> str | None:
        if kind == "Execution":
            return "execution"
        if kind == "Artifact":
            return f"outputs[{index}]"
        if kind == "Context":
            return "contexts"
        if kind in ("Event", "pair"):
            return f"inputs[{index}]" if index < inputs else f"outputs[{index - inputs}]"
        return None

    return where


def record(data: Mapping[str, Any]) -> dict[str, Any]:
    """One PutExecution through the core; the recorded nodes as JSON."""
    request, input_ids = _execution_request(data)
    try:
        response = store_call("PutExecution", request, _record_position(len(input_ids)))
    except Exception as exc:  # an input's missing artifact_id is its "id" in this body
        field = getattr(exc, "field", None)
        if field and field.startswith("inputs[") and field.endswith(".artifact_id"):
            exc.field = field[: -len("artifact_id")] + "id"  # type: ignore[attr-defined]
        raise
    return {
        "execution": _ordered(EXECUTION, [response.execution_id])[0],
        "inputs": _ordered(ARTIFACT, input_ids),
        "outputs": _ordered(ARTIFACT, list(response.artifact_ids)),
        "contexts": _ordered(CONTEXT, list(response.context_ids)),
    }


# ---------------------------------------------------------------------------- lookup


def lookup(data: Mapping[str, Any]) -> dict[str, Any]:
    execution_type = execution_type_of(data)
    declared = declared_properties([execution_type.id]).get(execution_type.id, {})
    properties = {
        name: to_value(value, declared.get(name), f"properties.{name}")
        for name, value in data["properties"].items()
        if value is not None
    }
    input_ids = artifact_ids_of(data["inputs"], "inputs")
    hits = cache.lookup(execution_type.id, input_ids, properties, limit=data["limit"])
    return {
        "hits": [
            {"execution": node_json(EXECUTION, hit.execution), "outputs": nodes_json(ARTIFACT, hit.outputs)} for hit in hits
        ]
    }


# ---------------------------------------------------------------------------- graphs


def _hops(query: Mapping[str, str]) -> int:
    raw = query.get("hops")
    if raw is None:
        return DEFAULT_HOPS
    if not raw.isdigit() or int(raw) > MAX_HOPS:
        raise BadRequest(f"hops must be an integer from 0 to {MAX_HOPS}, not {raw[:20]!r}", "hops")
    return int(raw)


def artifact_lineage(artifact_id: int, query: Mapping[str, str]) -> dict[str, Any]:
    unknown = sorted(set(query) - {"direction", "hops", "format"})
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}; lineage takes direction and hops", unknown[0])
    direction = query.get("direction", "both")
    if direction not in _DIRECTIONS:
        raise BadRequest(f"direction must be upstream, downstream or both, not {direction[:20]!r}", "direction")
    options = pb.LineageSubgraphQueryOptions(
        starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(filter_query=f"id = {artifact_id}"),
        max_num_hops=_hops(query),
        direction=_DIRECTIONS[direction],  # type: ignore[arg-type]
    )
    # The nodes whole, read with the walk (the API method answers with their ids alone).
    return graph_json(run_read(lambda: lineage.lineage_subgraph(options)))


def context_graph(context_id: int) -> dict[str, Any]:
    """The context's executions, the artifacts attributed to it or touched by them, the events among them."""
    execution_ids = set(Association.objects.filter(context_id=context_id).values_list("execution_id", flat=True))
    artifact_ids = set(Attribution.objects.filter(context_id=context_id).values_list("artifact_id", flat=True))
    if execution_ids:
        artifact_ids |= set(Event.objects.filter(execution_id__in=execution_ids).values_list("artifact_id", flat=True))
    graph = lineage.build_graph(artifact_ids, execution_ids, with_contexts=False)
    result = graph_json(graph)
    result["contexts"] = _ordered(CONTEXT, [context_id])
    return result


def delete_run(context_id: int, *, dry_run: bool) -> dict[str, Any]:
    return retention.delete_context_run(context_id, dry_run=dry_run).as_dict()
