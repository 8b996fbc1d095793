"""Server time of the dashboard's context page for a context of 200 executions, on SQLite.

Builds a TFX-shaped pipeline context (ExampleGen → StatisticsGen → SchemaGen →
Transform → Trainer → Evaluator → InfraValidator → Pusher, 25 times over, each
step reading the previous steps' outputs and writing its own) through the
store's core (``store.services.api.call`` with real MLMD messages) in a
temporary SQLite file, then requests the context page with Django's test client
many times and prints the median and 95th percentile.

Two figures: "warm" is the page as users get it (the drawing of unchanged data
comes from the cache), "cold" clears the cache before every request, so each
one also lays the drawing out with Graphviz (its CPU time, in a child process,
is not in the CPU figure but is in the wall-clock one).  Wall-clock time
depends on what else the machine runs; the load average is printed with it.

    .venv/bin/python bench/page_time.py [--executions 200] [--repeat 60] [--graph-limit 300]

Not a test: speed is measured here, never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = (
    ("ExampleGen", "Examples"),
    ("StatisticsGen", "ExampleStatistics"),
    ("SchemaGen", "Schema"),
    ("Transform", "TransformGraph"),
    ("Trainer", "Model"),
    ("Evaluator", "ModelEvaluation"),
    ("InfraValidator", "InfraBlessing"),
    ("Pusher", "PushedModel"),
)
# Which earlier steps' outputs each step reads (indexes into STEPS).
READS = {0: [], 1: [0], 2: [1], 3: [0, 2], 4: [0, 2, 3], 5: [0, 4], 6: [4], 7: [4, 5, 6]}


def setup_django(database: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmdsite.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_context(executions: int) -> int:
    """Record ``executions`` executions in one pipeline-run context; return the context's id."""
    from store.proto import metadata_store_pb2 as pb
    from store.proto import metadata_store_service_pb2 as svc
    from store.services import api

    type_ids: dict[str, int] = {}
    for execution_type, artifact_type in STEPS:
        type_ids[execution_type] = api.call(
            "PutExecutionType",
            svc.PutExecutionTypeRequest(
                execution_type=pb.ExecutionType(name=execution_type, properties={"component_id": pb.STRING})
            ),
        ).type_id
        type_ids[artifact_type] = api.call(
            "PutArtifactType",
            svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name=artifact_type, properties={"span": pb.INT})),
        ).type_id
    context_type = api.call(
        "PutContextType", svc.PutContextTypeRequest(context_type=pb.ContextType(name="PipelineRun"))
    ).type_id
    context = pb.Context(type_id=context_type, name="bench-run")
    context_id = 0
    outputs: dict[int, int] = {}
    for number in range(executions):
        round_, step = divmod(number, len(STEPS))
        execution_type, artifact_type = STEPS[step]
        execution = pb.Execution(
            type_id=type_ids[execution_type],
            name=f"{execution_type}-{round_}",
            last_known_state=pb.Execution.FAILED if number % 97 == 96 else pb.Execution.COMPLETE,
        )
        execution.properties["component_id"].string_value = execution_type
        request = svc.PutExecutionRequest(execution=execution, contexts=[context])
        request.options.reuse_context_if_already_exist = True
        for source in READS[step]:
            if source in outputs:
                pair = request.artifact_event_pairs.add()
                pair.event.artifact_id = outputs[source]
                pair.event.type = pb.Event.INPUT
        pair = request.artifact_event_pairs.add()
        pair.artifact.CopyFrom(
            pb.Artifact(
                type_id=type_ids[artifact_type],
                uri=f"/pipelines/bench/{execution_type}/{round_}",
                state=pb.Artifact.LIVE,
            )
        )
        pair.artifact.properties["span"].int_value = round_
        pair.event.type = pb.Event.OUTPUT
        response = api.call("PutExecution", request)
        outputs[step] = response.artifact_ids[0]
        context_id = response.context_ids[0]
    return context_id


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def time_page(url: str, repeat: int, *, cold: bool) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``repeat`` requests (CPU time ignores other processes' load)."""
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench")
    client = Client()
    client.force_login(user)
    assert client.get(url).status_code == 200  # warm imports, URL resolver, templates
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(repeat):
        if cold:
            cache.clear()
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, response.status_code
    return wall, cpu


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument(
        "--graph-limit",
        type=int,
        default=None,
        help="override settings.MLMD_INPROCESS_GRAPH_LIMIT (nodes drawn in full)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlmd-bench-") as folder:
        setup_django(Path(folder) / "bench.sqlite3")
        from django.conf import settings
        from django.urls import reverse

        from store.services import dashboard

        if args.graph_limit is not None:
            settings.MLMD_INPROCESS_GRAPH_LIMIT = args.graph_limit

        start = time.perf_counter()
        context_id = build_context(args.executions)
        built = time.perf_counter() - start
        counts = dashboard.context_type_counts(context_id)
        nodes, events = counts.size, counts.events
        limit = getattr(settings, "MLMD_INPROCESS_GRAPH_LIMIT", 300)
        url = reverse("lineage_ui:context", args=[context_id])
        print(
            f"context {context_id}: {args.executions} executions, {nodes} nodes, {events} events"
            f" (recorded in {built:.1f} s through the core); graph limit {limit}:"
            f" {'summary graph' if nodes > limit else 'full graph'} drawn"
        )
        print(f"machine load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        for label, cold in (("warm", False), ("cold", True)):
            wall, cpu = time_page(url, args.repeat, cold=cold)
            print(
                f"context page, {label}: wall {_summary(wall)} (min {min(wall):.1f} ms);"
                f" server CPU {_summary(cpu)}; {len(wall)} requests"
            )


if __name__ == "__main__":
    main()
