"""Lineage: the artifacts and executions connected to some starting nodes through events.

A traversal is a breadth-first walk, never one query per node, with no cap on
the number of hops, unlike MLMD's 100.  An unlimited walk is one recursive
query; a walk along one direction with a hop limit is a recursive query per
256 hops; other walks (both directions, stop conditions) one query per hop.  A
hop goes from an artifact to an execution or back, following one event.

Directions, for a hop from an artifact: UPSTREAM follows the events that say
an execution produced it (output events), DOWNSTREAM the events that say an
execution read it (input events); from an execution the other way round.
BIDIRECTIONAL follows every event.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from store.choices import INPUT_EVENT_TYPES, OUTPUT_EVENT_TYPES, TypeKind
from store.db import current_connection
from store.models import Artifact, Association, Attribution, Context, Event, Execution
from store.proto import metadata_store_pb2 as pb
from store.services import relations, sql
from store.services.errors import InvalidArgument
from store.services.filter_query import filter_nodes, id_literals
from store.services.kinds import ARTIFACT, CONTEXT, EXECUTION
from store.services.nodes import nodes_by_ids
from store.services.types import types_by_ids

UPSTREAM = pb.LineageSubgraphQueryOptions.UPSTREAM
DOWNSTREAM = pb.LineageSubgraphQueryOptions.DOWNSTREAM
BIDIRECTIONAL = pb.LineageSubgraphQueryOptions.BIDIRECTIONAL

_CHUNK = 500


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _event_types(direction: int, from_artifact: bool) -> frozenset[int] | None:
    if direction == BIDIRECTIONAL:
        return None
    upstream = direction == UPSTREAM
    # artifact → execution upstream: the execution wrote it (output event), and so on.
    if from_artifact:
        return OUTPUT_EVENT_TYPES if upstream else INPUT_EVENT_TYPES
    return INPUT_EVENT_TYPES if upstream else OUTPUT_EVENT_TYPES


def _in_clause(values: Iterable[int]) -> tuple[str, list[int]]:
    values = list(values)
    return ", ".join(["%s"] * len(values)), values


def _neighbours(ids: set[int], from_artifact: bool, direction: int) -> set[int]:
    """One hop from a set of nodes: a single parameterized query per chunk of ids."""
    if not ids:
        return set()
    source, target = ("artifact_id", "execution_id") if from_artifact else ("execution_id", "artifact_id")
    types = _event_types(direction, from_artifact)
    table = Event._meta.db_table
    found: set[int] = set()
    with current_connection().cursor() as cursor:
        for chunk in _chunks(sorted(ids)):
            placeholders, params = _in_clause(chunk)
            sql = f"SELECT DISTINCT {target} FROM {table} WHERE {source} IN ({placeholders})"
            if types is not None:
                type_placeholders, type_params = _in_clause(sorted(types))
                sql += f" AND type IN ({type_placeholders})"
                params += type_params
            cursor.execute(sql, params)
            found.update(row[0] for row in cursor.fetchall())
    return found


def _recursive_steps(direction: int, hops: int | None) -> tuple[list[str], list[int]]:
    """The two recursive members of a walk's ``reach(kind, node_id[, depth])`` CTE, and their parameters.

    From artifacts (kind 0) to executions (1) and back, along the events that
    ``direction`` follows; with ``hops``, each row carries its depth and the walk
    stops at that many hops.
    """
    table = Event._meta.db_table
    steps: list[str] = []
    params: list[int] = []
    for from_kind, source, target in ((0, "artifact_id", "execution_id"), (1, "execution_id", "artifact_id")):
        types = _event_types(direction, from_kind == 0)
        condition = ""
        if types is not None:
            placeholders, values = _in_clause(sorted(types))
            condition = f" AND e.type IN ({placeholders})"
            params += values
        depth = "" if hops is None else ", r.depth + 1"
        limit = "" if hops is None else " WHERE r.depth < %s"
        steps.append(
            f"SELECT {1 - from_kind}, e.{target}{depth} FROM reach r JOIN {table} e"
            f" ON r.kind = {from_kind} AND e.{source} = r.node_id{condition}{limit}"
        )
        if hops is not None:
            params.append(hops)
    return steps, params


def _reachable(start_artifacts: set[int], start_executions: set[int], direction: int) -> tuple[set[int], set[int]]:
    """Every node reachable from the start, in one recursive query (no hop limit, no filters).

    The recursion carries only (kind, id), so UNION visits each node once however
    many paths lead to it; 0 is an artifact, 1 an execution.
    """
    seeds: list[str] = []
    params: list[int] = []
    for kind, ids in ((0, start_artifacts), (1, start_executions)):
        for chunk in _chunks(sorted(ids)):
            placeholders, values = _in_clause(chunk)
            seeds.append(f"SELECT {kind}, id FROM {{table_{kind}}} WHERE id IN ({placeholders})")
            params += values
    seed_sql = " UNION ".join(seeds).format(table_0=Artifact._meta.db_table, table_1=Execution._meta.db_table)
    steps, recursive_params = _recursive_steps(direction, None)
    sql = (
        f"WITH RECURSIVE reach(kind, node_id) AS ({seed_sql} UNION {steps[0]} UNION {steps[1]})"
        " SELECT kind, node_id FROM reach"
    )
    artifacts: set[int] = set()
    executions: set[int] = set()
    with current_connection().cursor() as cursor:
        cursor.execute(sql, params + recursive_params)
        for kind, node_id in cursor.fetchall():
            (artifacts if kind == 0 else executions).add(node_id)
    return artifacts, executions


@dataclass
class Walk:
    """Nodes reached: id -> the hop at which each was first reached (None when not tracked)."""

    artifacts: dict[int, int | None] = field(default_factory=dict)
    executions: dict[int, int | None] = field(default_factory=dict)
    truncated: bool = False

    @property
    def size(self) -> int:
        return len(self.artifacts) + len(self.executions)


# Hops per recursive query in a bounded walk along one direction.  Each query
# carries the hop count of every row, so a node reached by paths of different
# lengths (or round a cycle) is a row per length: batches bound that work.
_HOPS_PER_QUERY = 256
# Frontiers larger than this are walked one hop per query (a batch seeds its recursive query with the frontier's ids).
_BATCH_FRONTIER_LIMIT = 400


def _reach_within(
    frontier_a: set[int], frontier_e: set[int], direction: int, hops: int
) -> tuple[dict[int, int], dict[int, int]]:
    """Nodes within ``hops`` hops of the frontier along one direction: {id: fewest hops} for artifacts and executions.

    One recursive query; the frontier's own nodes come back at 0.
    """
    seeds: list[str] = []
    params: list[int] = []
    for kind, ids, model in ((0, frontier_a, Artifact), (1, frontier_e, Execution)):
        if ids:
            placeholders, values = _in_clause(sorted(ids))
            seeds.append(f"SELECT {kind}, id, 0 FROM {model._meta.db_table} WHERE id IN ({placeholders})")
            params += values
    steps, step_params = _recursive_steps(direction, hops)
    params += step_params
    sql = (
        f"WITH RECURSIVE reach(kind, node_id, depth) AS ({' UNION '.join(seeds)} UNION {steps[0]} UNION {steps[1]})"
        " SELECT kind, node_id, MIN(depth) FROM reach GROUP BY kind, node_id"
    )
    artifacts: dict[int, int] = {}
    executions: dict[int, int] = {}
    with current_connection().cursor() as cursor:
        cursor.execute(sql, params)
        for kind, node_id, depth in cursor.fetchall():
            (artifacts if kind == 0 else executions)[node_id] = depth
    return artifacts, executions


def _bounded_walk(result: Walk, frontier_a: set[int], frontier_e: set[int], direction: int, max_hops: int) -> None:
    """A plain walk of at most ``max_hops`` hops along one direction, many hops per query.

    Breadth-first by batches: every node first reached in a batch is at the
    batch's starting hop plus its fewest hops from the batch's frontier (all of
    the nodes at exactly that starting hop), which is its fewest hops from the
    start.  The next batch starts from the nodes reached at the batch's last hop.
    """
    hop = 0
    while (frontier_a or frontier_e) and hop < max_hops:
        if len(frontier_a) + len(frontier_e) > _BATCH_FRONTIER_LIMIT:
            hop += 1
            new_e = {e for e in _neighbours(frontier_a, True, direction) if e not in result.executions}
            new_a = {a for a in _neighbours(frontier_e, False, direction) if a not in result.artifacts}
            for node_id in sorted(new_a):
                result.artifacts[node_id] = hop
            for node_id in sorted(new_e):
                result.executions[node_id] = hop
            frontier_a, frontier_e = new_a, new_e
            continue
        batch = min(_HOPS_PER_QUERY, max_hops - hop)
        artifacts, executions = _reach_within(frontier_a, frontier_e, direction, batch)
        frontier_a, frontier_e = set(), set()
        for found, reached, frontier in (
            (artifacts, result.artifacts, frontier_a),
            (executions, result.executions, frontier_e),
        ):
            for node_id, depth in sorted(found.items(), key=lambda item: (item[1], item[0])):
                if node_id in reached:
                    continue
                reached[node_id] = hop + depth
                if depth == batch:
                    frontier.add(node_id)
        hop += batch


def walk(

    start_artifacts: Iterable[int],
    start_executions: Iterable[int],
    *,
    direction: int = BIDIRECTIONAL,
    max_hops: int | None = None,
    keep_artifact: Callable[[set[int]], set[int]] | None = None,
    keep_execution: Callable[[set[int]], set[int]] | None = None,
    stop_artifact: Callable[[set[int]], set[int]] | None = None,
    stop_execution: Callable[[set[int]], set[int]] | None = None,
    max_nodes: int | None = None,
) -> Walk:
    """Breadth-first walk from the starting nodes.

    ``keep_*`` returns the subset of newly reached nodes that may enter the
    result at all (others are pruned with everything behind them); ``stop_*``
    returns the subset that enters the result but is not expanded further.
    An unlimited, unfiltered walk is one recursive query; otherwise one query per hop.
    """
    result = Walk()
    frontier_a = set(start_artifacts)
    frontier_e = set(start_executions)
    plain = not any((keep_artifact, keep_execution, stop_artifact, stop_execution, max_nodes is not None))
    if plain and max_hops is None:
        artifacts, executions = _reachable(frontier_a, frontier_e, direction)
        result.artifacts = {a: (0 if a in frontier_a else None) for a in sorted(artifacts)}
        result.executions = {e: (0 if e in frontier_e else None) for e in sorted(executions)}
        return result
    for a in sorted(frontier_a):
        result.artifacts[a] = 0
    for e in sorted(frontier_e):
        result.executions[e] = 0
    if plain and direction != BIDIRECTIONAL and max_hops is not None:
        _bounded_walk(result, frontier_a, frontier_e, direction, max_hops)
        return result
    stopped_a: set[int] = set()
    stopped_e: set[int] = set()
    hop = 0
    while (frontier_a or frontier_e) and (max_hops is None or hop < max_hops):
        hop += 1
        new_e = {e for e in _neighbours(frontier_a - stopped_a, True, direction) if e not in result.executions}
        new_a = {a for a in _neighbours(frontier_e - stopped_e, False, direction) if a not in result.artifacts}
        if keep_execution and new_e:
            new_e = keep_execution(new_e)
        if keep_artifact and new_a:
            new_a = keep_artifact(new_a)
        if stop_execution and new_e:
            stopped_e |= stop_execution(new_e)
        if stop_artifact and new_a:
            stopped_a |= stop_artifact(new_a)
        for node_id in sorted(new_a):
            if max_nodes is not None and result.size >= max_nodes:
                result.truncated = True
                break
            result.artifacts[node_id] = hop
        for node_id in sorted(new_e):
            if max_nodes is not None and result.size >= max_nodes:
                result.truncated = True
                break
            result.executions[node_id] = hop
        frontier_a = {a for a in new_a if a in result.artifacts}
        frontier_e = {e for e in new_e if e in result.executions}
        if result.truncated:
            break
    return result


def _start_ids(model: type[Artifact] | type[Execution], kind_name: str, query: str) -> list[int]:
    """The ids of the nodes a lineage query starts from; ``id = …`` and ``id IN (…)`` without a query built."""
    ids = id_literals(query)
    if ids is None:
        return list(filter_nodes(model.objects.all(), kind_name, query).values_list("id", flat=True))
    return sorted(sql.existing_ids(model, ids))


def _matcher(kind_name: str, query: str) -> Callable[[set[int]], set[int]]:
    model = Artifact if kind_name == "artifact" else Execution

    def matching(ids: set[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(sorted(ids)):
            found.update(filter_nodes(model.objects.filter(id__in=chunk), kind_name, query).values_list("id", flat=True))
        return found

    return matching


def _events_between(artifact_ids: set[int], execution_ids: set[int]) -> list[tuple[Any, ...]]:
    """(id, artifact_id, execution_id, type, milliseconds_since_epoch, path) of the events among the nodes, by id."""
    events: list[tuple[Any, ...]] = []
    if not artifact_ids or not execution_ids:
        return events
    head = (
        "SELECT id, artifact_id, execution_id, type, milliseconds_since_epoch, path"
        f" FROM {sql.table(Event)} WHERE execution_id IN "
    )
    for chunk in sql.chunks(sorted(execution_ids)):
        events.extend(row for row in sql.fetchall(f"{head}({sql.marks(len(chunk))})", chunk) if row[1] in artifact_ids)
    events.sort()
    return events


def _memberships(model: type, column: str, node_ids: set[int]) -> list[tuple[int, int]]:
    """(context id, node id) of the attributions or associations of the nodes."""
    pairs: list[tuple[int, int]] = []
    head = f"SELECT context_id, {column} FROM {sql.table(model)} WHERE {column} IN "
    for chunk in sql.chunks(sorted(node_ids)):
        pairs.extend(sql.fetchall(f"{head}({sql.marks(len(chunk))})", chunk))
    return pairs


def _ids_only(into: Any, ids: Iterable[int]) -> None:
    """Nodes by id alone, in id order, added to the repeated field ``into``."""
    for node_id in sorted(ids):
        into.add(id=node_id)


def _type_ids_of(model: type, node_ids: set[int]) -> set[int]:
    found: set[int] = set()
    head = f"SELECT DISTINCT type_id FROM {sql.table(model)} WHERE id IN "
    for chunk in sql.chunks(sorted(node_ids)):
        found.update(row[0] for row in sql.fetchall(f"{head}({sql.marks(len(chunk))})", chunk))
    return found


# ---------------------------------------------------------------------------- GetLineageSubgraph


_ALL_PARTS = frozenset(
    {
        "artifacts",
        "executions",
        "contexts",
        "events",
        "artifact_types",
        "execution_types",
        "context_types",
        "attributions",
        "associations",
    }
)


def lineage_subgraph(options: Any, read_mask: Iterable[str] = (), *, node_details: bool = True) -> Any:
    """MLMD's GetLineageSubgraph.

    ml-metadata's server answers it with its nodes by id alone, and its client
    then reads the nodes it wants with GetArtifactsByID and the like; the API
    method does the same (``node_details=False``).  The REST API and the
    dashboard take the nodes whole, in the same transaction.
    """
    which = options.WhichOneof("starting_nodes")
    if which is None:
        raise InvalidArgument("lineage_subgraph_query_options: starting_artifacts or starting_executions is required")
    starting = getattr(options, which)
    if not starting.filter_query:
        raise InvalidArgument(f"lineage_subgraph_query_options.{which}.filter_query is required")
    if options.HasField("max_num_hops") and options.max_num_hops < 0:
        raise InvalidArgument(f"max_num_hops must not be negative, got {options.max_num_hops}")
    direction = options.direction if options.HasField("direction") and options.direction else BIDIRECTIONAL
    kind_name = "artifact" if which == "starting_artifacts" else "execution"
    model = Artifact if kind_name == "artifact" else Execution
    start_ids = _start_ids(model, kind_name, starting.filter_query)

    stop_a = stop_e = None
    hidden_a: set[int] = set()
    hidden_e: set[int] = set()
    ending_a = options.ending_artifacts if options.HasField("ending_artifacts") else None
    ending_e = options.ending_executions if options.HasField("ending_executions") else None
    if ending_a is not None and ending_a.filter_query:
        match_a = _matcher("artifact", ending_a.filter_query)

        def stop_a(ids: set[int]) -> set[int]:
            found = match_a(ids)
            if not ending_a.include_ending_nodes:
                hidden_a.update(found)
            return found

    if ending_e is not None and ending_e.filter_query:
        match_e = _matcher("execution", ending_e.filter_query)

        def stop_e(ids: set[int]) -> set[int]:
            found = match_e(ids)
            if not ending_e.include_ending_nodes:
                hidden_e.update(found)
            return found

    result = walk(
        start_ids if kind_name == "artifact" else [],
        start_ids if kind_name == "execution" else [],
        direction=direction,
        max_hops=options.max_num_hops if options.HasField("max_num_hops") else None,
        stop_artifact=stop_a,
        stop_execution=stop_e,
    )
    artifact_ids = set(result.artifacts) - hidden_a
    execution_ids = set(result.executions) - hidden_e
    return build_graph(artifact_ids, execution_ids, read_mask, with_contexts=True, node_details=node_details)


def build_graph(
    artifact_ids: set[int],
    execution_ids: set[int],
    read_mask: Iterable[str] = (),
    *,
    with_contexts: bool,
    node_details: bool = True,
) -> Any:
    """A LineageGraph message of the given nodes, the events among them, their contexts and types.

    Only the parts the read mask names are read (all of them when it names none).
    Without ``node_details`` the nodes carry their id alone.
    """
    parts = set(read_mask) & _ALL_PARTS or set(_ALL_PARTS)
    graph = pb.LineageGraph()
    type_ids: set[int] = set()
    for part, kind, ids in (("artifacts", ARTIFACT, artifact_ids), ("executions", EXECUTION, execution_ids)):
        if part in parts and node_details:
            nodes = nodes_by_ids(kind, ids, into=getattr(graph, part))
            type_ids.update(n.type_id for n in nodes)
            continue
        if part in parts:
            _ids_only(getattr(graph, part), ids)
        if f"{kind.name}_types" in parts:
            type_ids |= _type_ids_of(kind.model, ids)
    attributions: list[tuple[int, int]] = []
    associations: list[tuple[int, int]] = []
    if with_contexts and parts & {"contexts", "context_types", "attributions", "associations"}:
        attributions = _memberships(Attribution, "artifact_id", artifact_ids)
        associations = _memberships(Association, "execution_id", execution_ids)
        context_ids = {c for c, _ in attributions} | {c for c, _ in associations}
        if "contexts" in parts and node_details:
            contexts = nodes_by_ids(CONTEXT, context_ids, into=graph.contexts)
            type_ids.update(c.type_id for c in contexts)
        else:
            if "contexts" in parts:
                _ids_only(graph.contexts, context_ids)
            if "context_types" in parts:
                type_ids |= _type_ids_of(Context, context_ids)
    if "events" in parts:
        relations.event_protos(_events_between(artifact_ids, execution_ids), into=graph.events)
    if type_ids and parts & {"artifact_types", "execution_types", "context_types"}:
        targets = {
            TypeKind.ARTIFACT: ("artifact_types", graph.artifact_types),
            TypeKind.EXECUTION: ("execution_types", graph.execution_types),
            TypeKind.CONTEXT: ("context_types", graph.context_types),
        }
        for kind, message in types_by_ids(type_ids):
            part, target = targets[TypeKind(kind)]
            if part in parts:
                target.append(message)
    if "attributions" in parts:
        for c, a in sorted(attributions):
            graph.attributions.add(context_id=c, artifact_id=a)
    if "associations" in parts:
        for c, e in sorted(associations):
            graph.associations.add(context_id=c, execution_id=e)
    return graph


# ---------------------------------------------------------------------------- GetLineageGraph


def lineage_graph(options: Any) -> Any:
    """MLMD's (deprecated) GetLineageGraph: bidirectional walk from artifacts chosen by list options."""
    from store.services.listing import list_nodes

    if not options.HasField("artifacts_options"):
        raise InvalidArgument("GetLineageGraph: options.artifacts_options selects the starting artifacts")
    starting, _ = list_nodes(ARTIFACT, Artifact.objects.all, options.artifacts_options)
    if not starting:
        raise InvalidArgument("GetLineageGraph: artifacts_options matches no artifact")
    stop = options.stop_conditions
    max_hops = stop.max_num_hops if stop.HasField("max_num_hops") else None
    if max_hops is not None and max_hops < 0:
        raise InvalidArgument(f"stop_conditions.max_num_hops must not be negative, got {max_hops}")
    max_nodes = options.max_node_size if options.max_node_size > 0 else None
    start = [a.id for a in starting]
    if max_nodes is not None:
        start = start[:max_nodes]
    result = walk(
        start,
        [],
        direction=BIDIRECTIONAL,
        max_hops=max_hops,
        keep_artifact=_matcher("artifact", stop.boundary_artifacts) if stop.boundary_artifacts else None,
        keep_execution=_matcher("execution", stop.boundary_executions) if stop.boundary_executions else None,
        max_nodes=max_nodes,
    )
    graph = build_graph(set(result.artifacts), set(result.executions), with_contexts=False)
    return graph
