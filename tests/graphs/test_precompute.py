"""One drawing run (lineage_ui.precompute), in this process: what a worker does with a job."""

from __future__ import annotations

from typing import Any

import pytest

from lineage_ui import graphs, precompute
from store.models import GraphDrawing, GraphJob
from store.services import graph_jobs
from tests.graphs.builders import BigContext
from tests.graphs.conftest import Sent

# Real commits: the heartbeat thread has its own database connection.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_stores_the_grouped_drawing(big: BigContext, sent: Sent) -> None:
    progress: list[tuple[int, str]] = []
    outcome = precompute.run(big.context_id, runner="task-1", on_progress=lambda p, s: progress.append((p, s)))
    assert outcome.status == "done", outcome
    job = GraphJob.objects.get(context_id=big.context_id)
    assert (job.status, job.runs, job.draws, job.progress) == ("done", 1, 1, 100)
    drawing = GraphDrawing.objects.get(context_id=big.context_id)
    assert drawing.version == graph_jobs.content_version(big.context_id) == job.drawn_version
    assert drawing.total_nodes == 2000
    assert drawing.drawn_nodes == outcome.drawn_nodes < 40  # 500 executions in 5 parallel steps, grouped
    assert drawing.svg.startswith("<svg")
    assert "× 100" in drawing.svg or "&#215; 100" in drawing.svg
    assert drawing.dot.startswith("digraph lineage")
    assert "pos=" in drawing.layout
    trainers = [g for g in drawing.node_index["groups"] if g["type"] == "Trainer" and not g["outcome"]]
    failed = sum(1 for chain in range(100) if (chain * 5 + 2) % 97 == 96)  # every 97th execution failed
    assert [g["count"] for g in trainers] == [100 - failed]
    assert [stage for _, stage in progress][:3] == ["loading the graph", "grouping 2000 nodes", f"laying out {drawing.drawn_nodes} nodes"]
    assert progress[-1] == (100, "done")
    # Idempotent: nothing to do for the same data.
    assert precompute.run(big.context_id, runner="task-2").status == "skipped"
    assert GraphJob.objects.get(context_id=big.context_id).runs == 1
    # Unless forced (manage.py graphs --rebuild).
    assert precompute.run(big.context_id, runner="task-3", force=True).status == "done"
    assert GraphJob.objects.get(context_id=big.context_id).draws == 2


def test_an_expanded_group_is_its_own_drawing(big: BigContext, sent: Sent) -> None:
    precompute.run(big.context_id, runner="task-1")
    base = GraphDrawing.objects.get(context_id=big.context_id, variant="")
    key = next(g["key"] for g in base.node_index["groups"] if g["type"] == "Trainer" and not g["outcome"])
    outcome = precompute.run(big.context_id, key, runner="task-2")
    assert outcome.status == "done"
    expanded = GraphDrawing.objects.get(context_id=big.context_id, variant=key)
    assert expanded.drawn_nodes > base.drawn_nodes + 90
    assert expanded.node_index["expanded"] == key


def test_a_layout_out_of_time_is_retried_with_fewer_nodes(
    big: BigContext, sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_slow(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        raise graphs.LayoutTimeout("Graphviz took longer than 240 s and was stopped")

    monkeypatch.setattr(graphs, "run_graphviz", too_slow)
    outcome = precompute.run(big.context_id, runner="task-1")
    assert outcome.status == "retry" and outcome.retry_in is not None
    job = GraphJob.objects.get(context_id=big.context_id)
    assert (job.status, job.attempts, job.max_nodes) == ("queued", 1, 500)
    assert "the next attempt draws at most 500" in job.error


def test_a_graphviz_error_fails_the_job(big: BigContext, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        raise graphs.DrawingError("Graphviz is not installed (the dot program was not found)")

    monkeypatch.setattr(graphs, "run_graphviz", broken)
    assert precompute.run(big.context_id, runner="task-1").status == "failed"
    job = GraphJob.objects.get(context_id=big.context_id)
    assert job.status == "failed"
    assert job.error == "Graphviz is not installed (the dot program was not found)"
    assert not GraphDrawing.objects.exists()


def test_heartbeats_carry_progress(big: BigContext, sent: Sent, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.MLMD_GRAPH_HEARTBEAT_SECONDS = 0.1
    seen: list[tuple[int, str]] = []
    real = graphs.run_graphviz

    def watched(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        on_wait = kwargs["on_wait"]
        for elapsed in (1.0, 2.0, 3.0):
            assert on_wait(elapsed)
        import time

        time.sleep(0.4)  # a few beats
        job = GraphJob.objects.get(context_id=big.context_id)
        seen.append((job.progress, job.stage))
        return real(*args, **kwargs)

    monkeypatch.setattr(graphs, "run_graphviz", watched)
    assert precompute.run(big.context_id, runner="task-1").status == "done"
    ((progress, stage),) = seen
    assert 25 < progress < 95
    assert stage.startswith("laying out")
