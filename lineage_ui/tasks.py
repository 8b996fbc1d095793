"""Celery tasks that precompute drawings of large contexts.

Tasks take ids, never model instances, and are idempotent: the job row decides
whether there is anything to do (``store.services.graph_jobs.claim``), so a
duplicate, late or redelivered message costs a few queries and nothing else.
Acknowledged late and rejected (so re-queued) when the worker process running
them is lost; the Redis visibility timeout (settings) is longer than the
longest layout, so a slow drawing is not handed to a second worker meanwhile.
A worker killed outright is noticed by its stale heartbeat: the sweep that
every worker runs when it starts, the beat schedule and the page's progress
poll queue its job again with a back-off.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_init, worker_process_init, worker_ready
from django.conf import settings

from lineage_ui import precompute
from store.services import graph_jobs

logger = logging.getLogger("lineage_ui.tasks")

# A backstop above the layout's own limit: loading and grouping 20,000 nodes take seconds, not minutes.
_SOFT_LIMIT = int(getattr(settings, "MLMD_GRAPH_LAYOUT_TIMEOUT", precompute.DEFAULT_LAYOUT_TIMEOUT)) + 120
_HARD_LIMIT = _SOFT_LIMIT + 30


@shared_task(
    bind=True,
    name=graph_jobs.DRAW_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the job row counts attempts (MLMD_GRAPH_MAX_ATTEMPTS)
    soft_time_limit=_SOFT_LIMIT,
    time_limit=_HARD_LIMIT,
)
def draw_context(self: Task, context_id: int, variant: str = "") -> dict[str, Any]:
    """Draw the context (with group ``variant`` expanded) unless it is up to date or being drawn."""
    outcome = precompute.run(
        int(context_id), str(variant), runner=self.request.id or "", worker=self.request.hostname or ""
    )
    if outcome.status == "retry" and outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.as_dict()


@shared_task(name=graph_jobs.CHANGED_TASK, acks_late=True, reject_on_worker_lost=True)
def contexts_changed(context_ids: list[int]) -> list[int]:
    """Writes changed these contexts: queue a drawing of each that is large (coalesced, after the debounce)."""
    return graph_jobs.contexts_changed(context_ids)


@shared_task(name="lineage_ui.tasks.sweep", acks_late=True)
def sweep(follow_up: bool = False) -> str:
    """Recover jobs of dead workers, re-send lost messages, refresh drawings of unannounced writes, clean up.

    ``follow_up`` (the start-up sweep): when a running job's heartbeat is not
    old enough yet to tell whether its worker died, look again once it is.
    """
    report = graph_jobs.sweep()
    if follow_up and report.next_stale_in is not None:
        sweep.apply_async(kwargs={"follow_up": False}, countdown=max(report.next_stale_in, 0) + 1)
    if report.recovered or report.resent or report.refreshed or report.deleted_drawings:
        logger.info("graph sweep: %s", report)
    return str(report)


@worker_init.connect
@worker_process_init.connect
def _send_inline(**kwargs: Any) -> None:
    """Inside a worker, messages are sent at once (the dispatcher thread is for web and gRPC processes)."""
    graph_jobs.dispatcher.inline = True


@worker_ready.connect
def _sweep_on_start(sender: Any = None, **kwargs: Any) -> None:
    """A new worker often replaces one that died: pick up what it left."""
    try:
        sweep.apply_async(kwargs={"follow_up": True}, countdown=1)
    except Exception:
        logger.exception("could not queue the start-up sweep")
