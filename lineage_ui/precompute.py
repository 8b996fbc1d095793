"""One run of a drawing job: claim it, load the context, group, lay out with a time limit, store.

Shared by the Celery task (``lineage_ui.tasks.draw_context``) and
``manage.py graphs --rebuild``, so both record progress, heartbeats and errors
on the same :class:`~store.models.GraphJob` row the page shows.  The state
rules (who may run, what a failure means, when to run again) live in
``store.services.graph_jobs``; this module does the work.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.urls import reverse

from lineage_ui import drawing, graphs, grouping
from store.models import Context
from store.services import graph_jobs

logger = logging.getLogger("lineage_ui.precompute")

DEFAULT_MAX_NODES = 1000
DEFAULT_LAYOUT_TIMEOUT = 240.0
MIN_MAX_NODES = 100  # a layout timeout halves the cap, down to this

Progress = Callable[[int, str], None]


def max_nodes() -> int:
    """Most nodes one drawing shows (groups count once; the rest goes into the "N more" note)."""
    return int(getattr(settings, "MLMD_GRAPH_MAX_NODES", DEFAULT_MAX_NODES))


def layout_timeout() -> float:
    """Longest a worker lets Graphviz lay out one drawing."""
    return float(getattr(settings, "MLMD_GRAPH_LAYOUT_TIMEOUT", DEFAULT_LAYOUT_TIMEOUT))


@dataclass
class Outcome:
    """How a run ended: ``done``, ``skipped`` (nothing to do), ``retry`` (after ``retry_in`` s) or ``failed``."""

    status: str
    detail: str = ""
    retry_in: float | None = None
    version: str = ""
    drawn_nodes: int = 0
    layout_ms: int = 0
    changed_meanwhile: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "version": self.version,
            "drawn_nodes": self.drawn_nodes,
            "layout_ms": self.layout_ms,
        }


class Heartbeat:
    """Renews the job's heartbeat and progress from a thread while the run loads data or waits on Graphviz.

    A heartbeat that finds the job no longer this runner's (another worker took
    it over after presuming this one dead) sets :attr:`lost`, and the layout is
    abandoned at its next check.
    """

    def __init__(self, job_id: int, runner: str, on_progress: Progress | None = None) -> None:
        self.job_id = job_id
        self.runner = runner
        self.progress = 1
        self.stage = "loading the graph"
        self.lost = False
        self._on_progress = on_progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mlmd-heartbeat-{job_id}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        if self._on_progress:
            self._on_progress(self.progress, self.stage)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def set(self, progress: int, stage: str | None = None) -> None:
        """Record progress; a new stage is written at once (the page shows it), progress at the next beat."""
        self.progress = progress
        if stage is not None and stage != self.stage:
            self.stage = stage
            if not graph_jobs.heartbeat(self.job_id, self.runner, progress=progress, stage=stage):
                self.lost = True
        if self._on_progress:
            self._on_progress(self.progress, self.stage)

    def finished(self) -> None:
        if self._on_progress:
            self._on_progress(100, "done")

    def _run(self) -> None:
        try:
            while not self._stop.wait(graph_jobs.heartbeat_seconds()):
                try:
                    if not graph_jobs.heartbeat(self.job_id, self.runner, progress=self.progress, stage=self.stage):
                        self.lost = True
                        return
                except Exception:  # a locked database: try again at the next beat
                    logger.warning("could not renew the heartbeat of drawing job %s", self.job_id, exc_info=True)
        finally:
            connections.close_all()


def expected_layout_seconds(nodes: int, previous_ms: int | None = None, previous_nodes: int | None = None) -> float:
    """A guess of how long ``dot`` takes on ``nodes`` nodes, for the progress bar only.

    From the last drawing of the same context when there is one (layout time
    grows a little faster than linearly), else from measurements of lineage
    graphs on a laptop core (about 5 s for 1,000 tangled nodes).
    """
    if previous_ms and previous_nodes:
        return max(0.5, previous_ms / 1000 * (max(nodes, 1) / previous_nodes) ** 1.5)
    return max(0.5, 0.00016 * max(nodes, 1) ** 1.5)


def _expand_url(context_id: int) -> Callable[[str], str]:
    base = reverse("lineage_ui:context", args=[context_id])
    return lambda key: f"{base}?expand={key}#graph-title"


def run(
    context_id: int,
    variant: str = "",
    *,
    runner: str,
    worker: str = "",
    on_progress: Progress | None = None,
    force: bool = False,
) -> Outcome:
    """Run the job of ``(context_id, variant)`` if there is work to do (``force``: even if up to date)."""
    claim = graph_jobs.claim(context_id, variant, runner, worker=worker, force=force)
    if not claim.go or claim.job_id is None:
        return Outcome("skipped", claim.reason)
    job_id = claim.job_id
    cap = claim.max_nodes or max_nodes()
    beat = Heartbeat(job_id, runner, on_progress).start()
    try:
        outcome = _draw(context_id, variant, runner, claim, cap, beat)
    except graphs.LayoutCancelled:
        return Outcome("skipped", "another worker took the job over")
    except graphs.LayoutTimeout as exc:
        smaller = max(MIN_MAX_NODES, cap // 2)
        retry_in = graph_jobs.fail(
            job_id,
            runner,
            f"{exc} (the drawing had up to {cap} nodes; the next attempt draws at most {smaller}).",
            transient=cap > MIN_MAX_NODES,
            max_nodes=smaller,
        )
        return Outcome("retry" if retry_in is not None else "failed", str(exc), retry_in=retry_in)
    except graphs.DrawingError as exc:
        logger.warning("drawing of context %s failed: %s", context_id, exc)
        graph_jobs.fail(job_id, runner, str(exc), transient=False)
        return Outcome("failed", str(exc))
    except Exception as exc:
        logger.exception("drawing of context %s failed", context_id)
        retry_in = graph_jobs.fail(job_id, runner, f"{type(exc).__name__}: {exc}", transient=True)
        return Outcome("retry" if retry_in is not None else "failed", str(exc), retry_in=retry_in)
    finally:
        beat.stop()
    if outcome.changed_meanwhile:
        # Written to while drawn: exactly one more run, after the debounce.
        graph_jobs.request_drawing(context_id, variant, countdown=graph_jobs.debounce_seconds())
    return outcome


def _draw(context_id: int, variant: str, runner: str, claim: graph_jobs.Claim, cap: int, beat: Heartbeat) -> Outcome:
    started = time.monotonic()
    name = Context.objects.filter(id=context_id).values_list("name", flat=True).first() or str(context_id)
    graph = drawing.full_context_graph(context_id, title=f"context {name}")
    load_ms = int((time.monotonic() - started) * 1000)
    beat.set(15, f"grouping {graph.size} nodes")
    if beat.lost:
        raise graphs.LayoutCancelled("the job was taken over")
    grouped = grouping.group_graph(graph, max_nodes=cap, expand=variant, expand_url=_expand_url(context_id))
    nodes = len(grouped.graph.nodes)
    effort = graphs.layout_effort(nodes + grouped.virtual_nodes)
    dot = graphs.to_dot(grouped.graph, extra=effort, edge_label="xlabel")
    expected = expected_layout_seconds(nodes, claim.expected_layout_ms, claim.expected_nodes)
    beat.set(25, f"laying out {nodes} nodes")

    def waiting(elapsed: float) -> bool:
        beat.set(25 + int(70 * (1 - math.exp(-elapsed / expected))))
        return not beat.lost

    layout_started = time.monotonic()
    output = graphs.run_graphviz(dot, ["svg", "dot"], timeout=layout_timeout(), on_wait=waiting)
    layout_ms = int((time.monotonic() - layout_started) * 1000)
    beat.set(96, "saving")
    result = graph_jobs.Result(
        svg=graphs.inline_svg(output["svg"].decode()),
        dot=dot,
        layout=output["dot"].decode(),
        node_index=grouped.index,
        total_nodes=grouped.total_nodes,
        drawn_nodes=nodes,
        hidden_nodes=grouped.hidden_nodes,
        groups=grouped.groups,
        max_nodes=cap,
        load_ms=load_ms,
        layout_ms=layout_ms,
    )
    moved = graph_jobs.complete(claim.job_id or 0, runner, context_id, variant, claim.version, result)
    beat.finished()
    logger.info(
        "drew context %s%s: %d of %d nodes in %d ms (layout %d ms)",
        context_id, f" group {variant}" if variant else "", nodes, grouped.total_nodes,
        int((time.monotonic() - started) * 1000), layout_ms,
    )
    return Outcome(
        "done", version=claim.version, drawn_nodes=nodes, layout_ms=layout_ms, changed_meanwhile=moved
    )
