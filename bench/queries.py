"""Query benchmark: a 10,000-step upstream lineage traversal and filter queries over 100,000 artifacts.

Not a test: it prints timings.  Run from the repo root:

    .venv/bin/python bench/queries.py [--chain 10000] [--artifacts 100000] [--db /tmp/bench-queries.sqlite3]

The store is built in bulk through the ORM (the write path is measured by
bench/workload.py) and its nodes' messages are stored as the API's writes
would; then every query goes through the request-level core, as gRPC and the
in-process store call it.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup(db_path: Path) -> None:
    if db_path.exists():
        db_path.unlink()
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmdsite.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _timed(label: str, function: Callable[[], object], repeat: int = 3) -> float:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"{label:<58} best {best * 1000:9.1f} ms   median {statistics.median(times) * 1000:9.1f} ms   -> {result}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain", type=int, default=10_000)
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/bench-queries.sqlite3"))
    args = parser.parse_args()
    _setup(args.db)

    from store.models import Artifact, ArtifactProperty, Event, Execution
    from store.proto import metadata_store_pb2 as pb
    from store.proto import metadata_store_service_pb2 as svc
    from store.services import api

    a_type = api.call(
        "PutArtifactType",
        svc.PutArtifactTypeRequest(
            artifact_type=pb.ArtifactType(name="DataSet", properties={"day": pb.INT, "split": pb.STRING, "score": pb.DOUBLE})
        ),
    ).type_id
    e_type = api.call("PutExecutionType", svc.PutExecutionTypeRequest(execution_type=pb.ExecutionType(name="Step"))).type_id

    print(f"building a {args.chain}-step chain ...", flush=True)
    chain = Artifact.objects.bulk_create([Artifact(type_id=a_type, uri=f"chain/{i}") for i in range(args.chain + 1)], batch_size=2000)
    steps = Execution.objects.bulk_create([Execution(type_id=e_type, name=f"step{i}") for i in range(args.chain)], batch_size=2000)
    events = []
    for i, step in enumerate(steps):
        events.append(Event(artifact_id=chain[i].id, execution_id=step.id, type=pb.Event.INPUT))
        events.append(Event(artifact_id=chain[i + 1].id, execution_id=step.id, type=pb.Event.OUTPUT))
    Event.objects.bulk_create(events, batch_size=5000)

    print(f"building {args.artifacts} artifacts with 3 properties each ...", flush=True)
    rng = random.Random(7)
    batch = 5000
    for start in range(0, args.artifacts, batch):
        rows = Artifact.objects.bulk_create(
            [Artifact(type_id=a_type, uri=f"s3://bucket/{i}", state=2) for i in range(start, min(args.artifacts, start + batch))]
        )
        props = []
        for row in rows:
            props.append(ArtifactProperty(artifact_id=row.id, name="day", int_value=rng.randrange(365)))
            props.append(ArtifactProperty(artifact_id=row.id, name="split", string_value=rng.choice(["train", "eval", "test"])))
            props.append(ArtifactProperty(artifact_id=row.id, name="score", double_value=rng.random()))
        ArtifactProperty.objects.bulk_create(props, batch_size=5000)

    # Rows made through the ORM have no stored message; the API's writes store one, so do that here.
    from store.services.node_messages import fill_all

    print(f"storing node messages: {fill_all()}", flush=True)

    def upstream() -> int:
        options = pb.LineageSubgraphQueryOptions(direction=pb.LineageSubgraphQueryOptions.UPSTREAM)
        options.starting_artifacts.filter_query = f"id = {chain[-1].id}"
        graph = api.call(
            "GetLineageSubgraph", svc.GetLineageSubgraphRequest(lineage_subgraph_query_options=options)
        ).lineage_subgraph
        return len(graph.executions)

    def upstream_ids_only() -> int:
        from store.services.lineage import walk

        return len(walk([chain[-1].id], [], direction=pb.LineageSubgraphQueryOptions.UPSTREAM).executions)

    def filtered(query: str, limit: int = 100) -> Callable[[], int]:
        def run() -> int:
            options = pb.ListOperationOptions(max_result_size=limit, filter_query=query)
            return len(api.call("GetArtifacts", svc.GetArtifactsRequest(options=options)).artifacts)

        return run

    print()
    print(f"SQLite file {args.db}, {Artifact.objects.count()} artifacts, {Event.objects.count()} events")
    _timed(f"{args.chain}-step upstream traversal (ids only)", upstream_ids_only)
    _timed(f"{args.chain}-step upstream lineage subgraph (full nodes)", upstream)
    _timed("filter: properties.day.int_value = 42 AND split = 'train'", filtered("properties.day.int_value = 42 AND properties.split.string_value = 'train'"))
    _timed("filter: uri LIKE 's3://bucket/9999%'", filtered("uri LIKE 's3://bucket/9999%'"))
    _timed("filter: score > 0.999 (100 of ~100)", filtered("properties.score.double_value > 0.999"))
    _timed("filter: state = LIVE AND day < 10, first page of 100", filtered("state = LIVE AND properties.day.int_value < 10"))


if __name__ == "__main__":
    main()
