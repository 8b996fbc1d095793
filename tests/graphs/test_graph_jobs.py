"""The job state machine of background drawings (store.services.graph_jobs), without Redis or a worker.

Messages go to a recorder (the ``sent`` fixture) instead of Redis; runs are
driven by calling the worker's functions (claim, complete, fail) directly.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from store.models import Artifact, Execution, GraphDrawing, GraphJob
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import graph_jobs
from tests.graphs.builders import BigContext, build_context
from tests.graphs.conftest import Sent
from tests.graphs.writes import add_execution, call

# Real commits: drawing messages are sent on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

RESULT = graph_jobs.Result(svg="<svg/>", dot="digraph {}", layout="digraph {}", drawn_nodes=1)


def draw(context_id: int, runner: str = "task-1", variant: str = "") -> bool:
    """One successful run, as a worker does it; True when the context changed meanwhile."""
    claim = graph_jobs.claim(context_id, variant, runner)
    assert claim.go, claim.reason
    assert claim.job_id is not None
    return graph_jobs.complete(claim.job_id, runner, context_id, variant, claim.version, RESULT)


def job_of(context_id: int, variant: str = "") -> GraphJob:
    return GraphJob.objects.get(context_id=context_id, variant=variant)


def one_more_execution(big: BigContext, name: str = "late-step") -> int:
    execution_id, _ = add_execution(
        "big-run", big.type_ids["PipelineRun"], big.type_ids["Trainer"], name=name, output_type_id=big.type_ids["Model"]
    )
    return execution_id


# ---------------------------------------------------------------------------- versions


def test_the_version_changes_with_what_the_drawing_shows(big: BigContext, sent: Sent) -> None:
    first = graph_jobs.content_version(big.context_id)
    assert first == graph_jobs.content_version(big.context_id)
    one_more_execution(big)
    second = graph_jobs.content_version(big.context_id)
    assert second != first
    # A state change (MLMD bumps the update time with it).
    execution = Execution.objects.filter(name="late-step").get()
    call("PutExecutions", svc.PutExecutionsRequest(executions=[
        pb.Execution(id=execution.id, type_id=execution.type_id, last_known_state=pb.Execution.FAILED)
    ]))
    third = graph_jobs.content_version(big.context_id)
    assert third != second
    # An artifact renamed.
    artifact = Artifact.objects.filter(attributions__context_id=big.context_id).first()
    assert artifact is not None
    call("PutArtifacts", svc.PutArtifactsRequest(artifacts=[pb.Artifact(id=artifact.id, type_id=artifact.type_id, name="renamed")]))
    assert graph_jobs.content_version(big.context_id) != third


def test_the_version_ignores_other_contexts(big: BigContext) -> None:
    before = graph_jobs.content_version(big.context_id)
    build_context(2, name="another-run")
    assert graph_jobs.content_version(big.context_id) == before
    assert graph_jobs.content_version(10**9) == ""


def test_the_version_costs_a_fixed_number_of_queries(big: BigContext) -> None:
    small_run = build_context(3, name="small-run")
    with CaptureQueriesContext(connection) as small:
        graph_jobs.content_version(small_run.context_id)
    with CaptureQueriesContext(connection) as large:
        graph_jobs.content_version(big.context_id)
    assert len(small) == len(large) == 4


# ---------------------------------------------------------------------------- the write hook


def test_a_write_announces_its_contexts_after_the_commit(big: BigContext, sent: Sent) -> None:
    with transaction.atomic():
        one_more_execution(big)
        assert sent.messages == []  # nothing before the commit
    assert sent.changed() == [[big.context_id]]
    with pytest.raises(RuntimeError), transaction.atomic():
        one_more_execution(big, name="rolled-back")
        raise RuntimeError("the request failed after the write")
    assert len(sent.changed()) == 1  # nothing for a write that rolled back


def test_the_hook_costs_one_query(big: BigContext, sent: Sent) -> None:
    response = svc.PutExecutionResponse(execution_id=1, artifact_ids=[1, 2], context_ids=[big.context_id])
    request = svc.PutExecutionRequest()
    request.artifact_event_pairs.add().artifact.CopyFrom(pb.Artifact(type_id=1))
    request.artifact_event_pairs.add().event.artifact_id = 2
    with CaptureQueriesContext(connection) as queries:
        graph_jobs.after_write("PutExecution", request, response)
    assert len(queries) == 1
    assert sent.changed() == [[big.context_id]]


def test_the_hook_does_nothing_without_workers(big: BigContext) -> None:
    with CaptureQueriesContext(connection) as queries:
        graph_jobs.after_write("PutExecution", svc.PutExecutionRequest(), svc.PutExecutionResponse(execution_id=1))
    assert len(queries) == 0


def test_touched_contexts_follow_artifacts_through_events(big: BigContext) -> None:
    artifact = Artifact.objects.filter(attributions__context_id=big.context_id).order_by("id").first()
    assert artifact is not None
    assert graph_jobs.touched_contexts([], [artifact.id], []) == {big.context_id}
    execution = Execution.objects.filter(associations__context_id=big.context_id).first()
    assert execution is not None
    assert graph_jobs.touched_contexts([execution.id], [], [42]) == {big.context_id, 42}
    assert graph_jobs.touched_contexts([], [], []) == set()


def test_only_large_contexts_get_a_drawing(big: BigContext, sent: Sent) -> None:
    small = build_context(2, name="small-run")  # 10 executions, 30 artifacts
    assert graph_jobs.contexts_changed([big.context_id, small.context_id]) == [big.context_id]
    assert sent.draws() == [(big.context_id, "")]
    (message,) = sent.messages
    assert message[2] == 2  # the debounce: a burst of writes shares one run
    assert not GraphJob.objects.filter(context_id=small.context_id).exists()


# ---------------------------------------------------------------------------- coalescing


def test_requests_while_queued_or_running_coalesce(big: BigContext, sent: Sent) -> None:
    for _ in range(5):
        graph_jobs.request_drawing(big.context_id, countdown=2)
    assert sent.draws() == [(big.context_id, "")]
    assert graph_jobs.claim(big.context_id, "", "early").reason == "backing off"  # the debounce
    GraphJob.objects.update(retry_at=timezone.now())  # two seconds later
    claim = graph_jobs.claim(big.context_id, "", "task-1")
    assert claim.go
    for _ in range(5):
        graph_jobs.request_drawing(big.context_id)
    assert len(sent.draws()) == 1
    assert job_of(big.context_id).status == "running"
    # Written to while drawn: the run notices when it finishes, and asks for exactly one more.
    one_more_execution(big)
    assert claim.job_id is not None
    moved = graph_jobs.complete(claim.job_id, "task-1", big.context_id, "", claim.version, RESULT)
    assert moved is True
    assert job_of(big.context_id).draws == 1


def test_a_current_drawing_needs_no_run(big: BigContext, sent: Sent) -> None:
    graph_jobs.request_drawing(big.context_id)
    assert draw(big.context_id) is False
    sent.clear()
    graph_jobs.request_drawing(big.context_id)
    assert sent.messages == []
    assert job_of(big.context_id).status == "done"
    # A duplicate or late message costs a few queries and changes nothing.
    claim = graph_jobs.claim(big.context_id, "", "task-2")
    assert (claim.go, claim.reason) == (False, "up to date")
    # New data: drawn again.
    one_more_execution(big)
    graph_jobs.request_drawing(big.context_id)
    assert sent.draws() == [(big.context_id, "")]


def test_completing_keeps_only_the_current_drawing(big: BigContext, sent: Sent) -> None:
    draw(big.context_id)
    first = job_of(big.context_id).drawn_version
    one_more_execution(big)
    draw(big.context_id, runner="task-2")
    job = job_of(big.context_id)
    assert job.draws == 2 and job.runs == 2
    assert list(GraphDrawing.objects.values_list("version", flat=True)) == [job.drawn_version]
    assert first != job.drawn_version


# ---------------------------------------------------------------------------- failures


def test_a_dead_worker_is_noticed_by_its_heartbeat(big: BigContext, sent: Sent, settings: Any) -> None:
    settings.MLMD_GRAPH_STALE_SECONDS = 10
    claim = graph_jobs.claim(big.context_id, "", "task-1")
    assert claim.go
    sent.clear()
    GraphJob.objects.update(heartbeat_at=timezone.now() - timedelta(seconds=5))
    graph_jobs.request_drawing(big.context_id)
    assert sent.messages == []  # still alive
    GraphJob.objects.update(heartbeat_at=timezone.now() - timedelta(seconds=11))
    graph_jobs.request_drawing(big.context_id)
    job = job_of(big.context_id)
    assert job.status == "queued"
    assert job.attempts == 1
    assert "stopped responding" in job.error
    ((name, args, countdown),) = sent.messages
    assert (name, args) == (graph_jobs.DRAW_TASK, [big.context_id, ""])
    assert 4 <= countdown <= 6  # the back-off: 5 s, then 10, 20 ...
    # The dead worker's own heartbeat, should it come back, is refused: the job is not its own any more.
    assert graph_jobs.heartbeat(job.id, "task-1") is False


def test_after_too_many_attempts_the_job_fails_with_its_reason(big: BigContext, sent: Sent) -> None:
    for attempt in range(1, 4):
        GraphJob.objects.update(retry_at=None)  # the back-off is over
        claim = graph_jobs.claim(big.context_id, "", f"task-{attempt}")
        assert claim.go, claim.reason
        GraphJob.objects.update(heartbeat_at=timezone.now() - timedelta(minutes=5))  # and then it died
        graph_jobs.request_drawing(big.context_id)
    job = job_of(big.context_id)
    assert job.status == "failed"
    assert job.attempts == 3
    assert "stopped responding" in job.error
    sent.clear()
    graph_jobs.request_drawing(big.context_id)  # a failed job stays failed at the same version
    assert sent.messages == []
    assert graph_jobs.claim(big.context_id, "", "late").reason == "failed: waiting for a retry"
    graph_jobs.retry(big.context_id)  # the page's button
    assert job_of(big.context_id).status == "queued"
    assert job_of(big.context_id).attempts == 0
    assert sent.draws() == [(big.context_id, "")]


def test_new_data_clears_a_failure(big: BigContext, sent: Sent) -> None:
    claim = graph_jobs.claim(big.context_id, "", "task-1")
    assert claim.job_id is not None
    assert graph_jobs.fail(claim.job_id, "task-1", "Graphviz failed: out of memory", transient=False) is None
    assert job_of(big.context_id).status == "failed"
    one_more_execution(big)
    graph_jobs.request_drawing(big.context_id)
    assert job_of(big.context_id).status == "queued"


def test_a_transient_failure_is_retried_with_a_back_off(big: BigContext, sent: Sent) -> None:
    claim = graph_jobs.claim(big.context_id, "", "task-1")
    assert claim.job_id is not None
    delay = graph_jobs.fail(claim.job_id, "task-1", "OperationalError: database is locked", transient=True, max_nodes=500)
    assert delay is not None and 4 <= delay <= 6
    job = job_of(big.context_id)
    assert (job.status, job.attempts, job.max_nodes) == ("queued", 1, 500)
    assert graph_jobs.claim(big.context_id, "", "early").reason == "backing off"
    GraphJob.objects.update(retry_at=timezone.now())
    retried = graph_jobs.claim(big.context_id, "", "task-1")  # Celery's retry keeps the task id
    assert retried.go and retried.max_nodes == 500 and retried.attempt == 2


def test_a_redelivered_message_of_a_dead_run_counts_as_an_attempt(big: BigContext, sent: Sent) -> None:
    assert graph_jobs.claim(big.context_id, "", "task-1").go
    assert graph_jobs.claim(big.context_id, "", "task-2").reason.startswith("being drawn by")
    again = graph_jobs.claim(big.context_id, "", "task-1")  # acks_late: the same message, its worker gone
    assert again.go
    assert job_of(big.context_id).attempts == 1


def test_a_run_taken_over_still_stores_its_drawing(big: BigContext, sent: Sent) -> None:
    slow = graph_jobs.claim(big.context_id, "", "slow")
    GraphJob.objects.update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    graph_jobs.request_drawing(big.context_id)  # presumed dead, queued again
    assert slow.job_id is not None
    graph_jobs.complete(slow.job_id, "slow", big.context_id, "", slow.version, RESULT)
    assert GraphDrawing.objects.filter(version=slow.version).exists()
    assert job_of(big.context_id).status == "queued"  # left to the next run, which finds it up to date
    GraphJob.objects.update(retry_at=None)
    assert graph_jobs.claim(big.context_id, "", "next").reason == "up to date"
    assert job_of(big.context_id).status == "done"


# ---------------------------------------------------------------------------- Redis down


def test_when_redis_is_down_writes_succeed_and_drawings_are_marked_stale(big: BigContext, sent: Sent) -> None:
    graph_jobs.request_drawing(big.context_id)
    draw(big.context_id)
    sent.clear()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign, assignment]
    logger = logging.getLogger("store.graph_jobs")
    logger.addHandler(handler)
    sent.fail = True
    try:
        one_more_execution(big, name="while-redis-is-down-1")
        one_more_execution(big, name="while-redis-is-down-2")
        assert Execution.objects.filter(name__startswith="while-redis-is-down").count() == 2
        job = job_of(big.context_id)
        assert job.status == "queued"  # marked stale: the sweep sends it once Redis is back
        warnings = [r for r in records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # logged once, not once per write
        assert "could not send drawing jobs to Redis" in warnings[0].getMessage()
        sent.fail = False
        graph_jobs.dispatcher._paused_until = 0.0
        report = graph_jobs.sweep()
        assert report.resent == 1
        assert sent.draws() == [(big.context_id, "")]
        assert any("Redis takes drawing jobs again" in r.getMessage() for r in records)
    finally:
        logger.removeHandler(handler)


def test_the_dispatcher_thread_sends_in_the_background(big: BigContext, settings: Any) -> None:
    settings.MLMD_GRAPH_WORKERS = True
    record = Sent()
    dispatcher = graph_jobs.Dispatcher()
    dispatcher.send = record.send
    dispatcher.changed([1, 2])
    dispatcher.changed([2, 3])
    dispatcher.draw(7, "", 0)
    assert dispatcher.flush(5)
    assert sorted(i for ids in record.changed() for i in ids) == [1, 2, 3]
    assert record.draws() == [(7, "")]


# ---------------------------------------------------------------------------- the sweep


def test_the_sweep_catches_up(big: BigContext, sent: Sent, settings: Any) -> None:
    draw(big.context_id)
    # An unannounced write (the admin, an import): the fingerprint tells.
    Execution.objects.filter(associations__context_id=big.context_id).update(last_update_time_since_epoch=1)
    sent.clear()
    report = graph_jobs.sweep()
    assert report.refreshed == 1
    assert sent.draws() == [(big.context_id, "")]
    # A variant nobody looked at for days is deleted with its drawings.
    old = timezone.now() - timedelta(days=30)
    GraphJob.objects.create(context_id=big.context_id, variant="g00000000001", status="done", viewed_at=old)
    GraphDrawing.objects.create(context_id=big.context_id, variant="g00000000001", version="x", drawn_at=old, svg="", dot="")
    report = graph_jobs.sweep()
    assert report.deleted_jobs == 1 and report.deleted_drawings >= 1
    assert not GraphJob.objects.filter(variant="g00000000001").exists()


def test_the_sweep_tells_when_to_look_again(big: BigContext, sent: Sent, settings: Any) -> None:
    settings.MLMD_GRAPH_STALE_SECONDS = 10
    graph_jobs.claim(big.context_id, "", "task-1")
    report = graph_jobs.sweep()
    assert report.recovered == 0
    assert report.next_stale_in is not None and 0 < report.next_stale_in <= 10
