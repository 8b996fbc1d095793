"""Background drawings of large contexts: versions, the job state machine, and the write hook.

Every change of a drawing job's state goes through this module: the write path
(:func:`after_write`, called by ``api.call`` inside each write's transaction),
the page and its progress poll (:func:`request_drawing`, :func:`retry`), the
Celery worker (:func:`claim`, :func:`heartbeat`, :func:`complete`, :func:`fail`)
and the periodic :func:`sweep`.

Versioning.  :func:`content_version` fingerprints what a drawing shows (the
context's executions and artifacts with their last update times, its events)
with a few aggregate queries.  A drawing is stored under the version it was
drawn from and shown only while that is still the context's version, so no
write path can make a stale drawing look current: the REST API, gRPC, the
admin, ``import_mlmd`` and ``prune`` all change the fingerprint.

Coalescing.  One :class:`~store.models.GraphJob` row per context (and expanded
group) holds the state.  A request while the job is queued changes nothing (the
queued run will read the newest data when it starts; write-triggered runs wait
``MLMD_GRAPH_DEBOUNCE_SECONDS`` to let a burst finish); a request while it runs
changes nothing either: when a run finishes it compares the version it drew
with the current one and queues exactly one more run if they differ.

Failures.  Writes never wait on Redis: messages are handed to a background
thread (:class:`Dispatcher`) after the commit.  When Redis is down the failure
is logged once, the jobs of the changed contexts are marked queued in the
database, and the sweep (run by the worker at start-up and every minute by
beat) sends them again once Redis is back.  A worker that dies mid-run stops
renewing its job's heartbeat; whoever looks next (the page, its poll, the
sweep, a redelivered message) queues the job again with an exponential
back-off, at most ``MLMD_GRAPH_MAX_ATTEMPTS`` times, then marks it failed with
the reason, and the page offers a retry button.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, close_old_connections, connections, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from store.db import current_alias
from store.models import (
    Association,
    Attribution,
    Context,
    Event,
    GraphDrawing,
    GraphJob,
    GraphJobStatus,
)

logger = logging.getLogger("store.graph_jobs")

DRAW_TASK = "lineage_ui.tasks.draw_context"
CHANGED_TASK = "lineage_ui.tasks.contexts_changed"

QUEUED = GraphJobStatus.QUEUED
RUNNING = GraphJobStatus.RUNNING
DONE = GraphJobStatus.DONE
FAILED = GraphJobStatus.FAILED


# ---------------------------------------------------------------------------- settings


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def workers_enabled() -> bool:
    """Whether large drawings are made by Celery workers (REDIS_URL is set) rather than not at all."""
    return bool(_setting("MLMD_GRAPH_WORKERS", False))


def size_threshold() -> int:
    """Contexts above this many nodes are drawn by a worker (the in-process limit of ``lineage_ui.drawing``)."""
    return int(_setting("MLMD_INPROCESS_GRAPH_LIMIT", 300))


def debounce_seconds() -> float:
    return float(_setting("MLMD_GRAPH_DEBOUNCE_SECONDS", 2.0))


def stale_seconds() -> float:
    """A running job whose heartbeat is older than this belongs to a dead worker."""
    return float(_setting("MLMD_GRAPH_STALE_SECONDS", 30.0))


def heartbeat_seconds() -> float:
    return float(_setting("MLMD_GRAPH_HEARTBEAT_SECONDS", 2.0))


def requeue_seconds() -> float:
    """A job queued this long ago without being picked up lost its message: send it again."""
    return float(_setting("MLMD_GRAPH_REQUEUE_SECONDS", 120.0))


def max_attempts() -> int:
    return int(_setting("MLMD_GRAPH_MAX_ATTEMPTS", 3))


def retry_delay(attempt: int) -> float:
    """Back-off before attempt ``attempt + 1``: base × 2^(attempt-1), capped, with some jitter."""
    base = float(_setting("MLMD_GRAPH_RETRY_BASE_SECONDS", 5.0))
    delay = min(base * 2 ** max(attempt - 1, 0), 300.0)
    return delay * random.uniform(0.8, 1.2)


def _runner_host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------------------- versions


def content_version(context_id: int) -> str:
    """A fingerprint of everything the context's drawing shows (empty when there is no such context).

    Four aggregate queries over the context's rows, no loading: counts and
    largest ids catch added and removed nodes and events; sums of last update
    times catch any node's change (MLMD bumps the time on every update, and a
    name or state change is one) -- of attributed artifacts directly, of
    artifacts only linked by events through the events.  Computed before a
    drawing's data is loaded, so a drawing is never labelled newer than its data.
    """
    head = Context.objects.filter(id=context_id).values_list("name", "last_update_time_since_epoch").first()
    if head is None:
        return ""
    executions = Association.objects.filter(context_id=context_id).aggregate(
        n=Count("id"), top=Max("execution_id"), updated=Sum("execution__last_update_time_since_epoch")
    )
    attributed = Attribution.objects.filter(context_id=context_id).aggregate(
        n=Count("id"), top=Max("artifact_id"), updated=Sum("artifact__last_update_time_since_epoch")
    )
    events = Event.objects.filter(execution__associations__context_id=context_id).aggregate(
        n=Count("id"), top=Max("id"), updated=Sum("artifact__last_update_time_since_epoch")
    )
    text = repr((head, sorted(executions.items()), sorted(attributed.items()), sorted(events.items())))
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def approximate_sizes(context_ids: Iterable[int]) -> dict[int, int]:
    """Executions plus attributed artifacts per context: two index-only GROUP BY queries."""
    ids = list(context_ids)
    sizes: dict[int, int] = dict.fromkeys(ids, 0)
    for model in (Association, Attribution):
        for row in model.objects.filter(context_id__in=ids).values("context_id").annotate(n=Count("id")):
            sizes[row["context_id"]] += row["n"]
    return sizes


# ---------------------------------------------------------------------------- the write hook

# What each write method changed, from its request and response: (execution ids, artifact ids, context ids).
Touched = tuple[Iterable[int], Iterable[int], Iterable[int]]


def _put_execution(request: Any, response: Any) -> Touched:
    written = [
        artifact_id
        for pair, artifact_id in zip(request.artifact_event_pairs, response.artifact_ids, strict=False)
        if pair.HasField("artifact")
    ]
    return [response.execution_id], written, response.context_ids


_TOUCHES: dict[str, Callable[[Any, Any], Touched]] = {
    "PutArtifacts": lambda request, response: ((), response.artifact_ids, ()),
    "PutExecutions": lambda request, response: (response.execution_ids, (), ()),
    "PutContexts": lambda request, response: ((), (), response.context_ids),
    "PutEvents": lambda request, response: ([e.execution_id for e in request.events], (), ()),
    "PutExecution": _put_execution,
    "PutLineageSubgraph": lambda request, response: (
        response.execution_ids,
        response.artifact_ids,
        response.context_ids,
    ),
    "PutAttributionsAndAssociations": lambda request, response: (
        (),
        (),
        [a.context_id for a in request.attributions] + [a.context_id for a in request.associations],
    ),
}


def touched_contexts(execution_ids: Iterable[int], artifact_ids: Iterable[int], context_ids: Iterable[int]) -> set[int]:
    """The contexts whose drawing shows any of these nodes (one query)."""
    executions = sorted({int(i) for i in execution_ids if i})
    artifacts = sorted({int(i) for i in artifact_ids if i})
    found = {int(i) for i in context_ids if i}
    parts = []
    if executions:
        parts.append(Association.objects.filter(execution_id__in=executions).values_list("context_id", flat=True))
    if artifacts:
        parts.append(Attribution.objects.filter(artifact_id__in=artifacts).values_list("context_id", flat=True))
        parts.append(
            Association.objects.filter(execution__events__artifact_id__in=artifacts).values_list(
                "context_id", flat=True
            )
        )
    if parts:
        first, *rest = parts
        query = first.union(*rest) if rest else first.distinct()
        found.update(query)
    return found


def after_write(method: str, request: Any, response: Any) -> None:
    """Have the drawings of the contexts this write changed refreshed once it commits.

    Call inside the write's transaction, after its handler returned.  It costs
    one query and never touches Redis: the context ids go to the dispatcher
    thread on commit (nothing at all is sent for a write that rolls back), and
    the worker decides which of them are large enough to draw.  Only writes to
    the site's own database count (an in-process ``MetadataStore`` on another
    database has no worker).
    """
    if not workers_enabled():
        return
    extract = _TOUCHES.get(method)
    alias = current_alias()
    if extract is None or alias != DEFAULT_DB_ALIAS:
        return
    try:
        executions, artifacts, contexts = extract(request, response)
    except (AttributeError, ValueError, TypeError):  # a request shape we did not expect: never fail the write
        logger.exception("could not tell which contexts %s changed", method)
        return
    ids = touched_contexts(executions, artifacts, contexts)
    if ids:
        transaction.on_commit(lambda: dispatcher.changed(sorted(ids)), using=alias)


# ---------------------------------------------------------------------------- requests from pages, writes, sweeps


def _heartbeat_age(job: GraphJob, now: datetime) -> float:
    beat = job.heartbeat_at or job.started_at
    return (now - beat).total_seconds() if beat else float("inf")


def is_stale(job: GraphJob, now: datetime | None = None) -> bool:
    """A running job whose worker stopped renewing the heartbeat."""
    return job.status == RUNNING and _heartbeat_age(job, now or timezone.now()) > stale_seconds()


def _locked_job(context_id: int, variant: str) -> tuple[GraphJob | None, bool]:
    """The job row, locked for this transaction (made when missing); whether it was just made."""
    rows = GraphJob.objects.select_for_update().filter(context_id=context_id, variant=variant)
    job = rows.first()
    if job is not None:
        return job, False
    if not Context.objects.filter(id=context_id).exists():
        return None, False
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):  # a savepoint: a concurrent insert may win
            return GraphJob.objects.create(context_id=context_id, variant=variant, status=DONE), True
    except IntegrityError:
        return rows.get(), False


def _queue(job: GraphJob, now: datetime, countdown: float) -> None:
    """Mark the job queued and send its message once the transaction commits."""
    job.status = QUEUED
    job.queued_at = now
    job.retry_at = now + timedelta(seconds=countdown) if countdown else None
    job.task_id = ""
    job.progress = 0
    job.stage = ""
    context_id, variant = job.context_id, job.variant
    transaction.on_commit(lambda: dispatcher.draw(context_id, variant, countdown), using=DEFAULT_DB_ALIAS)


def _recover(job: GraphJob, now: datetime) -> None:
    """The job's worker died: queue it again after a back-off, or give up past the attempt limit."""
    age = _heartbeat_age(job, now)
    job.attempts += 1
    job.error = (
        f"The worker drawing this ({job.worker or 'unknown'}) stopped responding: "
        f"no heartbeat for {age:.0f} s (attempt {job.attempts} of {max_attempts()})."
    )
    job.heartbeat_at = None
    if job.attempts >= max_attempts():
        job.status = FAILED
        job.finished_at = now
        job.task_id = ""
        logger.warning("drawing of context %s%s failed: %s", job.context_id, _variant_text(job.variant), job.error)
    else:
        delay = retry_delay(job.attempts)
        logger.info("drawing of context %s%s: worker lost, retrying in %.0f s", job.context_id,
                    _variant_text(job.variant), delay)
        _queue(job, now, delay)


def _variant_text(variant: str) -> str:
    return f" (group {variant})" if variant else ""


def request_drawing(
    context_id: int, variant: str = "", *, version: str | None = None, countdown: float = 0.0, viewed: bool = False
) -> GraphJob | None:
    """Make sure a drawing of the context's current version is made, or being made; the job.

    Idempotent and cheap to call on every page view and progress poll: queued
    and running jobs are left alone (that is the coalescing), except that a
    running job with a stale heartbeat is recovered and a queued one whose
    message was lost is sent again.  A failed job stays failed at the same
    version (the page offers the retry); new data clears the failure.
    """
    now = timezone.now()
    current = version
    # Most calls (every poll) change nothing: decide that without taking a lock.
    seen = GraphJob.objects.filter(context_id=context_id, variant=variant).first()
    if seen is not None and not _wants_change(seen, now, version):
        if viewed and (seen.viewed_at is None or now - seen.viewed_at > timedelta(hours=1)):
            GraphJob.objects.filter(id=seen.id).update(viewed_at=now)
        return seen
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        job, created = _locked_job(context_id, variant)
        if job is None:
            return None
        fields_before = _state(job)
        if viewed:
            job.viewed_at = now
        if created:
            _queue(job, now, countdown)
        elif job.status == RUNNING:
            if is_stale(job, now):
                _recover(job, now)
        elif job.status == QUEUED:
            since = job.retry_at or job.queued_at or now
            if (now - since).total_seconds() > requeue_seconds():
                logger.info("drawing of context %s%s: re-sending a message queued at %s", context_id,
                            _variant_text(variant), since)
                _queue(job, now, 0)
        elif job.status == DONE:
            current = current or content_version(context_id)
            if job.drawn_version != current or not _drawing_exists(context_id, variant, current):
                job.attempts = 0
                _queue(job, now, countdown)
        elif job.status == FAILED and job.version and job.version != (current or content_version(context_id)):
            job.attempts = 0
            job.error = ""
            job.max_nodes = None
            _queue(job, now, countdown)
        if viewed or created or _state(job) != fields_before:
            job.save()
    return job


def _wants_change(job: GraphJob, now: datetime, version: str | None) -> bool:
    """Whether :func:`request_drawing` has anything to do for this job (read without a lock)."""
    if job.status == RUNNING:
        return is_stale(job, now)
    if job.status == QUEUED:
        since = job.retry_at or job.queued_at
        return since is None or (now - since).total_seconds() > requeue_seconds()
    if job.status == DONE:
        return version is None or job.drawn_version != version
    return version is None or (bool(job.version) and job.version != version)  # failed


def _state(job: GraphJob) -> tuple[Any, ...]:
    return (job.status, job.queued_at, job.attempts, job.error, job.heartbeat_at)


def _drawing_exists(context_id: int, variant: str, version: str) -> bool:
    return GraphDrawing.objects.filter(context_id=context_id, variant=variant, version=version).exists()


def retry(context_id: int, variant: str = "") -> GraphJob | None:
    """The page's retry button: start a failed (or stuck) job afresh, now."""
    now = timezone.now()
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        job, _ = _locked_job(context_id, variant)
        if job is None:
            return None
        if job.status == RUNNING and not is_stale(job, now):
            return job
        job.attempts = 0
        job.error = ""
        job.max_nodes = None
        _queue(job, now, 0)
        job.save()
    return job


def mark_stale(context_ids: Iterable[int]) -> int:
    """Queue the drawings of these contexts in the database only (their message could not be sent).

    The sweep sends queued jobs again once they are older than
    ``MLMD_GRAPH_REQUEUE_SECONDS``; a page view sends them at once.
    """
    ids = sorted(set(context_ids))
    if not ids:
        return 0
    return (
        GraphJob.objects.filter(context_id__in=ids, variant="")
        .exclude(status=RUNNING)
        .update(status=QUEUED, queued_at=timezone.now() - timedelta(seconds=requeue_seconds()), attempts=0)
    )


def contexts_changed(context_ids: Iterable[int]) -> list[int]:
    """Worker side of :func:`after_write`: request drawings of the changed contexts that are large; their ids."""
    ids = sorted({int(i) for i in context_ids})
    if not ids:
        return []
    with_jobs = set(GraphJob.objects.filter(context_id__in=ids, variant="").values_list("context_id", flat=True))
    sizes = approximate_sizes([i for i in ids if i not in with_jobs])
    wanted = sorted(with_jobs | {i for i, n in sizes.items() if n > size_threshold()})
    for context_id in wanted:
        request_drawing(context_id, "", countdown=debounce_seconds())
    return wanted


# ---------------------------------------------------------------------------- the worker's side


@dataclass
class Claim:
    """What :func:`claim` decided: run (with the version to draw) or skip (and why)."""

    go: bool
    reason: str = ""
    job_id: int | None = None
    version: str = ""
    max_nodes: int | None = None
    attempt: int = 0
    expected_layout_ms: int | None = None
    expected_nodes: int | None = None


def claim(context_id: int, variant: str, runner: str, *, worker: str = "", force: bool = False) -> Claim:
    """Take the job for ``runner`` (a Celery task id, or the command's id) if there is work to do.

    Idempotent, so that any number of messages for a job (a page view, a
    write, the sweep, a redelivery) cost at most one run: a job another live
    worker runs, a failed one, one in back-off or one whose drawing of the
    current version exists already is skipped.  A job still marked running by
    this same runner means its message was redelivered after its worker died
    (late acknowledgement): that counts as a failed attempt.  ``force``
    (``manage.py graphs --rebuild``) draws even a failed or up-to-date job.
    """
    now = timezone.now()
    version = content_version(context_id)
    if not version:
        return Claim(False, "no such context")
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        job, _ = _locked_job(context_id, variant)
        if job is None:
            return Claim(False, "no such context")
        if job.status == RUNNING:
            if job.task_id != runner and not is_stale(job, now):
                return Claim(False, f"being drawn by {job.worker or job.task_id}", job.id)
            job.attempts += 1
            job.error = (
                f"A worker ({job.worker or 'unknown'}) died while drawing this (attempt {job.attempts} "
                f"of {max_attempts()})."
            )
            if job.attempts >= max_attempts():
                job.status = FAILED
                job.finished_at = now
                job.save()
                return Claim(False, "failed: too many attempts", job.id)
        elif force:
            job.attempts = 0
        elif job.status == FAILED:
            return Claim(False, "failed: waiting for a retry", job.id)
        elif job.status == QUEUED and job.retry_at and job.retry_at > now + timedelta(seconds=1):
            return Claim(False, "backing off", job.id)
        if not force and _drawing_exists(context_id, variant, version):
            job.status = DONE
            job.drawn_version = version
            job.progress = 100
            job.stage = ""
            job.save()
            return Claim(False, "up to date", job.id)
        previous = (
            GraphDrawing.objects.filter(context_id=context_id, variant=variant)
            .order_by("-drawn_at")
            .values("layout_ms", "drawn_nodes")
            .first()
        )
        job.status = RUNNING
        job.version = version
        job.task_id = runner
        job.worker = worker or _runner_host()
        job.started_at = job.heartbeat_at = now
        job.retry_at = None
        job.progress = 1
        job.stage = "loading the graph"
        job.runs += 1
        job.save()
        return Claim(
            True,
            job_id=job.id,
            version=version,
            max_nodes=job.max_nodes,
            attempt=job.attempts + 1,
            expected_layout_ms=previous["layout_ms"] if previous else None,
            expected_nodes=previous["drawn_nodes"] if previous else None,
        )


def heartbeat(job_id: int, runner: str, *, progress: int | None = None, stage: str | None = None) -> bool:
    """Renew the job's heartbeat (and progress); False when the job is no longer this runner's."""
    changes: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        changes["progress"] = max(0, min(int(progress), 99))
    if stage is not None:
        changes["stage"] = stage[:64]
    updated = GraphJob.objects.filter(id=job_id, task_id=runner, status=RUNNING).update(**changes)
    return updated == 1


@dataclass
class Result:
    """A finished drawing, as the worker hands it over."""

    svg: str
    dot: str
    layout: str
    node_index: dict[str, Any] = field(default_factory=dict)
    total_nodes: int = 0
    drawn_nodes: int = 0
    hidden_nodes: int = 0
    groups: int = 0
    max_nodes: int = 0
    load_ms: int = 0
    layout_ms: int = 0


def complete(job_id: int, runner: str, context_id: int, variant: str, version: str, result: Result) -> bool:
    """Store the drawing and finish the job; True when the context changed meanwhile (draw again).

    The drawing is stored even when another runner took the job over (it is a
    valid drawing of ``version``), but the job's state is then left to that
    runner.  Older drawings of the context are deleted, except the current
    version's (never delete what a page may be showing).
    """
    now = timezone.now()
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        GraphDrawing.objects.update_or_create(
            context_id=context_id,
            variant=variant,
            version=version,
            defaults={
                "drawn_at": now,
                "svg": result.svg,
                "dot": result.dot,
                "layout": result.layout,
                "node_index": result.node_index,
                "total_nodes": result.total_nodes,
                "drawn_nodes": result.drawn_nodes,
                "hidden_nodes": result.hidden_nodes,
                "groups": result.groups,
                "max_nodes": result.max_nodes,
                "load_ms": result.load_ms,
                "layout_ms": result.layout_ms,
            },
        )
        job = GraphJob.objects.select_for_update().filter(id=job_id).first()
        if job is not None and job.task_id == runner:
            job.status = DONE
            job.drawn_version = version
            job.progress = 100
            job.stage = ""
            job.error = ""
            job.attempts = 0
            job.heartbeat_at = None
            job.retry_at = None
            job.finished_at = now
            job.draws += 1
            job.save()
    current = content_version(context_id)
    keep = {version, current}
    GraphDrawing.objects.filter(context_id=context_id, variant=variant).exclude(version__in=keep).delete()
    return bool(current) and current != version


def fail(
    job_id: int, runner: str, error: str, *, transient: bool, max_nodes: int | None = None
) -> float | None:
    """Record a failed run; the back-off before the next attempt, or None when the job failed for good."""
    now = timezone.now()
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        job = GraphJob.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.task_id != runner or job.status != RUNNING:
            return None
        job.attempts += 1
        job.error = error[:4000]
        job.heartbeat_at = None
        if max_nodes:
            job.max_nodes = max_nodes
        if transient and job.attempts < max_attempts():
            delay = retry_delay(job.attempts)
            job.status = QUEUED
            job.queued_at = now
            job.retry_at = now + timedelta(seconds=delay)
            job.task_id = ""
            job.save()
            return delay
        job.status = FAILED
        job.finished_at = now
        job.save()
        return None


# ---------------------------------------------------------------------------- sweep and clean-up


@dataclass
class SweepReport:
    recovered: int = 0
    resent: int = 0
    refreshed: int = 0
    deleted_drawings: int = 0
    deleted_jobs: int = 0
    next_stale_in: float | None = None  # seconds until a running job could turn stale

    def __str__(self) -> str:
        return (
            f"{self.recovered} recovered, {self.resent} re-sent, {self.refreshed} refreshed, "
            f"{self.deleted_drawings} old drawings and {self.deleted_jobs} old jobs deleted"
        )


def sweep(*, check_versions: int = 100) -> SweepReport:
    """Catch up on whatever was missed: dead workers, lost messages, writes nobody announced; clean up.

    Run by the worker when it starts (a worker killed mid-run is usually
    replaced by one) and periodically by Celery beat.
    """
    now = timezone.now()
    report = SweepReport()
    for job in GraphJob.objects.filter(status=RUNNING).order_by("id"):
        if is_stale(job, now):
            request_drawing(job.context_id, job.variant)
            report.recovered += 1
        else:
            left = stale_seconds() - _heartbeat_age(job, now)
            report.next_stale_in = left if report.next_stale_in is None else min(report.next_stale_in, left)
    resend_before = now - timedelta(seconds=requeue_seconds())
    for job in GraphJob.objects.filter(status=QUEUED).filter(
        Q(retry_at__lt=resend_before) | Q(retry_at__isnull=True, queued_at__lt=resend_before) | Q(queued_at=None)
    ):
        request_drawing(job.context_id, job.variant)
        report.resent += 1
    # Writes that no hook announced (the admin, an import, a prune): compare fingerprints, oldest first.
    # A random sample each time, so that every context gets its turn however many there are.
    for job in GraphJob.objects.filter(status=DONE, variant="").order_by("?")[:check_versions]:
        current = content_version(job.context_id)
        if current != job.drawn_version:
            request_drawing(job.context_id, "", version=current, countdown=debounce_seconds())
            report.refreshed += 1
    report.deleted_drawings, report.deleted_jobs = cleanup(now=now)
    return report


def cleanup(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete drawings that can no longer be shown, and expanded-group jobs nobody looked at for a while."""
    now = now or timezone.now()
    keep_days = float(_setting("MLMD_GRAPH_KEEP_VARIANT_DAYS", 2.0))
    old_variants = GraphJob.objects.exclude(variant="").exclude(status=RUNNING).filter(
        Q(viewed_at__lt=now - timedelta(days=keep_days)) | Q(viewed_at=None, queued_at__lt=now - timedelta(days=keep_days))
    )
    deleted_drawings = 0
    deleted_jobs = 0
    for job in old_variants:
        deleted_drawings += GraphDrawing.objects.filter(context_id=job.context_id, variant=job.variant).delete()[0]
        job.delete()
        deleted_jobs += 1
    # Drawings older than the last finished one of their job, kept an hour for the "previous drawing" link.
    hour_ago = now - timedelta(hours=1)
    for job in GraphJob.objects.filter(status=DONE).exclude(drawn_version=""):
        deleted_drawings += (
            GraphDrawing.objects.filter(context_id=job.context_id, variant=job.variant, drawn_at__lt=hour_ago)
            .exclude(version=job.drawn_version)
            .delete()[0]
        )
    return deleted_drawings, deleted_jobs


# ---------------------------------------------------------------------------- sending messages


class Dispatcher:
    """Sends Celery messages to Redis from a background thread, so that no write waits on Redis.

    ``changed`` (context ids from the write hook) and ``draw`` (a job to run)
    are queued in memory and sent in batches (ids of several writes become one
    message).  When sending fails, the failure is logged once (and the return
    of Redis once more), sending pauses for a few seconds, and the changed
    contexts' jobs are marked queued in the database for the sweep to send.
    In a worker process, and in tests, ``inline`` sends at once in the caller's thread.
    """

    PAUSE_SECONDS = 10.0

    def __init__(self) -> None:
        self.inline = False
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._paused_until = 0.0
        self._failing = False
        self._connection: Any = None
        self.send: Callable[[str, list[Any], float], None] = self._send

    # -- the API ------------------------------------------------------------
    def changed(self, context_ids: list[int]) -> None:
        self._submit(("changed", list(context_ids)))

    def draw(self, context_id: int, variant: str = "", countdown: float = 0.0) -> None:
        self._submit(("draw", (context_id, variant, countdown)))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far was handled (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # -- internals ----------------------------------------------------------
    def _submit(self, item: tuple[str, Any]) -> None:
        if self.inline:
            self._handle([item])
            return
        with self._lock:
            self._pending += 1
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                # A forked child (a worker process, a pre-forking server) starts its own thread.
                self._pid = os.getpid()
                self._connection = None
                self._thread = threading.Thread(target=self._loop, name="mlmd-graph-dispatcher", daemon=True)
                self._thread.start()
        self._queue.put(item)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            time.sleep(0.05)  # let a burst of commits gather into one message
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:
                    batch.append(self._queue.get_nowait())
            try:
                self._handle(batch)
            except Exception:  # never let the thread die: the sweep will catch up
                logger.exception("the drawing dispatcher failed")
            finally:
                with contextlib.suppress(Exception):
                    close_old_connections()
                    connections.close_all()
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()

    def _handle(self, batch: list[tuple[str, Any]]) -> None:
        changed: set[int] = set()
        draws: dict[tuple[int, str], float] = {}
        for kind, payload in batch:
            if kind == "changed":
                changed.update(payload)
            else:
                context_id, variant, countdown = payload
                key = (context_id, variant)
                draws[key] = min(draws.get(key, countdown), countdown)
        messages: list[tuple[str, list[Any], float]] = []
        if changed:
            messages.append((CHANGED_TASK, [sorted(changed)], 0.0))
        messages.extend((DRAW_TASK, [context_id, variant], countdown) for (context_id, variant), countdown in draws.items())
        failed = False
        for name, args, countdown in messages:
            if failed or time.monotonic() < self._paused_until:
                failed = True
                continue
            try:
                self.send(name, args, countdown)
            except Exception as exc:  # kombu, redis-py and socket errors alike
                failed = True
                self._paused_until = time.monotonic() + self.PAUSE_SECONDS
                self._connection = None
                if not self._failing:
                    self._failing = True
                    logger.warning(
                        "could not send drawing jobs to Redis (%s); drawings of changed contexts are marked "
                        "stale and will be made when it is back", exc,
                    )
        if failed:
            if changed:
                try:
                    mark_stale(changed)
                except Exception:
                    logger.exception("could not mark drawings of contexts %s stale", sorted(changed))
        elif messages and self._failing:
            self._failing = False
            logger.info("Redis takes drawing jobs again")

    def _send(self, name: str, args: list[Any], countdown: float) -> None:
        from mlmdsite.celery import app

        if self._connection is None:
            # Fail fast instead of kombu's patient reconnecting: the sweep catches up later.
            self._connection = app.connection_for_write(
                transport_options={
                    "max_retries": 1,
                    "interval_start": 0,
                    "interval_step": 0.2,
                    "interval_max": 0.5,
                    "socket_connect_timeout": 2,
                    "socket_timeout": 5,
                }
            )
        app.send_task(
            name,
            args=args,
            countdown=countdown or None,
            connection=self._connection,
            retry=False,
            ignore_result=True,
        )


dispatcher = Dispatcher()
