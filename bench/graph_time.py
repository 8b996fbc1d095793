"""Large lineage graphs: summary-graph time, full-drawing time and page time, by context size.

For contexts of 500, 5,000 and 20,000 executions (a fan-out pipeline run: parallel
chains of five steps, three artifacts per execution, so 4 nodes per execution;
built with bulk_create, see tests/graphs/builders.py) in a temporary SQLite file:

- summary: what a page draws in the request while the full drawing is made:
  counts by type (three GROUP BY queries) and the Graphviz layout of the summary.
- full drawing: what a worker does (``lineage_ui.precompute.run``): load every
  node and event, group parallel steps, lay out with ``dot``, store.  Also with
  the largest group expanded (its members drawn one by one, up to the cap).
- page: the context page's server time (Django test client): the first view
  of the context (counts by type, summary layout, the job queued), later views
  while the drawing is being made (summary and progress bar), the progress
  poll (``drawing.json``), and views once the drawing is stored.  Median and
  95th percentile of ``--repeat`` requests.
- reference: ``dot`` on the whole ungrouped graph with the page's own settings
  (what drawing "everything" would cost without the worker's grouping and
  cap), stopped at ``--reference-timeout``.

    .venv/bin/python bench/graph_time.py [--sizes 500,5000,20000] [--repeat 20] [--reference-timeout 60]

No Redis needed: messages to workers are recorded, not sent; the drawing runs
in this process exactly as a worker runs it.  Not a test: speed is measured
here, never asserted in the test suite.  Wall-clock times depend on the machine
and its load; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def setup_django(database: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmdsite.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Workers on, but their messages recorded instead of sent: the page behaves as with Redis.
    settings.MLMD_GRAPH_WORKERS = True
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from store.services import graph_jobs

    graph_jobs.dispatcher.inline = True
    graph_jobs.dispatcher.send = lambda name, args, countdown: None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def page_times(client: Any, url: str, repeat: int) -> list[float]:
    assert client.get(url).status_code == 200  # warm: imports, URL resolver, templates
    times = []
    for _ in range(repeat):
        ms, response = timed(lambda: client.get(url))
        assert response.status_code == 200, response.status_code
        times.append(ms)
    return times


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} / {percentile(values, 0.95):.0f}"


def measure(executions: int, repeat: int, reference_timeout: float, skip_reference: bool) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.test import Client
    from django.urls import reverse

    from lineage_ui import drawing, graphs, precompute
    from store.models import GraphDrawing, GraphJob
    from store.services import dashboard
    from tests.graphs.builders import build_context

    built = build_context(executions // 5, name=f"bench-{executions}")
    row: dict[str, Any] = {
        "executions": built.executions,
        "nodes": built.executions + built.artifacts,
        "build_s": built.seconds,
    }
    context_id = built.context_id
    client = Client()
    user, _ = User.objects.get_or_create(username="bench")
    client.force_login(user)
    url = reverse("lineage_ui:context", args=[context_id])
    status_url = reverse("lineage_ui:context_drawing_status", args=[context_id])

    # The summary graph, cold (no cached SVG): counts by type and a small layout.
    def summary() -> None:
        counts = dashboard.context_type_counts(context_id)
        graphs.render(graphs.to_dot(drawing.counts_graph(counts, context_id=context_id)), "svg")

    row["summary_ms"] = statistics.median(timed(summary)[0] for _ in range(5))

    # The page while the drawing is being made: summary and progress (the job stays queued: no worker here).
    # The first view also counts by type and lays the summary out; later ones reuse both for the version.
    client.get(reverse("lineage_ui:home"))  # warm: imports, URL resolver, templates
    cache.clear()
    row["page_first_ms"], _ = timed(lambda: client.get(url))
    row["page_drawing_ms"] = page_times(client, url, repeat)
    row["poll_ms"] = page_times(client, status_url, repeat)
    assert GraphJob.objects.filter(context_id=context_id, status="queued").exists()

    # The full drawing, as a worker makes it.
    ms, outcome = timed(lambda: precompute.run(context_id, runner="bench", force=True))
    assert outcome.status == "done", outcome
    stored = GraphDrawing.objects.get(context_id=context_id, variant="")
    row.update(full_ms=ms, load_ms=stored.load_ms, layout_ms=stored.layout_ms, drawn=stored.drawn_nodes)
    biggest = max(stored.node_index["groups"], key=lambda g: g["count"])
    ms, outcome = timed(lambda: precompute.run(context_id, biggest["key"], runner="bench-expand", force=True))
    assert outcome.status == "done", outcome
    expanded = GraphDrawing.objects.get(context_id=context_id, variant=biggest["key"])
    row.update(expanded_ms=ms, expanded_drawn=expanded.drawn_nodes, expanded_layout_ms=expanded.layout_ms)

    # The page once the drawing is stored.
    body = client.get(url).content
    assert b'data-testid="graph-stored"' in body
    row["page_stored_ms"] = page_times(client, url, repeat)

    # Reference: dot on the whole graph, ungrouped.
    if skip_reference:
        row["reference"] = "skipped"
    else:
        whole = drawing.full_context_graph(context_id)
        dot = graphs.to_dot(whole)  # as the page draws graphs within the in-process limit
        try:
            ms, _ = timed(lambda: graphs.run_graphviz(dot, ["svg"], timeout=reference_timeout))
            row["reference"] = f"{ms / 1000:.1f} s"
        except graphs.LayoutTimeout:
            row["reference"] = f"> {reference_timeout:.0f} s (stopped)"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,5000,20000", help="executions per context, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="page requests per measurement")
    parser.add_argument("--reference-timeout", type=float, default=60.0, help="seconds for the ungrouped dot")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="mlmd-graph-bench-") as folder:
        setup_django(Path(folder) / "bench.sqlite3")
        print(f"machine: {os.cpu_count()} CPUs, load average (1 min) {os.getloadavg()[0]:.2f}; SQLite file; "
              f"times in ms (median / p95 of {args.repeat} where two)")
        rows = []
        reference_gave_up = False
        for executions in sizes:
            row = measure(executions, args.repeat, args.reference_timeout, skip_reference=reference_gave_up)
            reference_gave_up = reference_gave_up or str(row["reference"]).startswith(">")
            rows.append(row)
            print(f"  built {row['executions']} executions / {row['nodes']} nodes in {row['build_s']:.1f} s", flush=True)
        header = (
            f"{'executions':>10} {'nodes':>7} | {'summary':>7} | {'full drawing (load, layout; nodes)':>36} | "
            f"{'one group expanded':>22} | {'page: first':>11} {'drawing':>9} {'poll':>9} {'stored':>9} | "
            f"{'reference: dot, ungrouped':>26}"
        )
        print()
        print(header)
        print("-" * len(header))
        for row in rows:
            full = f"{row['full_ms']:.0f} ({row['load_ms']}, {row['layout_ms']}; {row['drawn']})"
            expanded = f"{row['expanded_ms']:.0f} ({row['expanded_layout_ms']}; {row['expanded_drawn']})"
            print(
                f"{row['executions']:>10} {row['nodes']:>7} | {row['summary_ms']:>7.0f} | {full:>36} | {expanded:>22} | "
                f"{row['page_first_ms']:>11.0f} {fmt(row['page_drawing_ms']):>9} {fmt(row['poll_ms']):>9} "
                f"{fmt(row['page_stored_ms']):>9} | "
                f"{row['reference']:>26}"
            )
        print(f"\nload average (1 min) after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
