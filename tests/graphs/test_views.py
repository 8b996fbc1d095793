"""The context page of a large context: summary and progress, the stored drawing, failures, groups, downloads."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lineage_ui import precompute
from store.models import GraphDrawing, GraphJob
from store.services import graph_jobs
from tests.graphs.builders import BigContext, build_context
from tests.graphs.conftest import Sent
from tests.graphs.writes import add_execution

# Real commits: drawing messages are sent on commit, and runs use a heartbeat thread.
pytestmark = pytest.mark.django_db(transaction=True)


def page(client: Client, big: BigContext, query: str = "") -> str:
    response = client.get(reverse("lineage_ui:context", args=[big.context_id]) + query)
    assert response.status_code == 200
    return response.content.decode()


def status(client: Client, big: BigContext, query: str = "") -> dict[str, Any]:
    response = client.get(reverse("lineage_ui:context_drawing_status", args=[big.context_id]) + query)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    return dict(response.json())


def one_more_execution(big: BigContext, name: str = "late-step") -> None:
    add_execution("big-run", big.type_ids["PipelineRun"], big.type_ids["Trainer"], name=name,
                  output_type_id=big.type_ids["Model"])


def test_while_being_drawn_the_page_shows_the_summary_and_progress(reader_client: Client, big: BigContext, sent: Sent) -> None:
    body = page(reader_client, big)
    assert 'data-testid="graph-job"' in body
    assert "<progress" in body
    assert 'data-state="queued"' in body
    assert "Waiting for a worker to draw the full graph" in body
    assert '<span class="badge">summary</span>' in body
    assert "× 100" in body  # the summary counts the Trainer executions
    assert "a background worker draws the full graph" in body
    assert 'id="graph-job" type="application/json"' in body  # the poll's settings (json_script)
    assert "js/graph_job.js" in body
    assert sent.draws() == [(big.context_id, "")]  # the page asked for the drawing, at once
    # The poll: queued, then running with progress.
    assert status(reader_client, big)["state"] == "queued"
    claim = graph_jobs.claim(big.context_id, "", "task-1")
    assert claim.job_id is not None
    graph_jobs.heartbeat(claim.job_id, "task-1", progress=40, stage="laying out 25 nodes")
    answer = status(reader_client, big)
    assert (answer["state"], answer["progress"], answer["stage"]) == ("running", 40, "laying out 25 nodes")
    assert 'data-state="running"' in page(reader_client, big)
    assert len(sent.draws()) == 1  # neither the page nor the poll asked again


def test_once_drawn_the_page_serves_the_stored_drawing(reader_client: Client, big: BigContext, sent: Sent) -> None:
    assert precompute.run(big.context_id, runner="task-1").status == "done"
    assert status(reader_client, big)["state"] == "done"
    body = page(reader_client, big)
    assert 'data-testid="graph-stored"' in body
    assert 'data-testid="graph-job"' not in body
    assert "by a background worker, from the current data" in body
    drawing = GraphDrawing.objects.get()
    assert drawing.svg[:200] in body
    assert "Groups of parallel steps" in body


def test_the_stored_page_costs_a_fixed_number_of_queries(reader_client: Client, sent: Sent) -> None:
    def queries(chains: int) -> int:
        run = build_context(chains, name=f"run-{chains}")
        precompute.run(run.context_id, runner=f"task-{chains}")
        url = reverse("lineage_ui:context", args=[run.context_id])
        reader_client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert reader_client.get(url).status_code == 200
        return len(captured)

    assert queries(70) == queries(140)


def test_a_write_makes_the_drawing_stale(reader_client: Client, big: BigContext, sent: Sent) -> None:
    precompute.run(big.context_id, runner="task-1")
    one_more_execution(big)
    body = page(reader_client, big)
    assert 'data-testid="graph-stored"' not in body  # never shown as current
    assert 'data-testid="graph-job"' in body
    assert status(reader_client, big)["state"] == "queued"
    assert 'data-testid="graph-previous-link"' in body
    outdated = page(reader_client, big, "?outdated=1")
    assert 'data-testid="graph-outdated"' in outdated
    assert "before the latest changes" in outdated
    assert GraphDrawing.objects.get().svg[:200] in outdated


def test_a_failed_drawing_shows_the_error_and_a_retry_button(reader_client: Client, big: BigContext, sent: Sent) -> None:
    page(reader_client, big)
    claim = graph_jobs.claim(big.context_id, "", "task-1")
    assert claim.job_id is not None
    graph_jobs.fail(claim.job_id, "task-1", "Graphviz failed: out of memory", transient=False)
    assert status(reader_client, big)["state"] == "failed"
    body = page(reader_client, big)
    assert 'data-testid="graph-job-error"' in body
    assert "Graphviz failed: out of memory" in body
    assert 'name="csrfmiddlewaretoken"' in body
    retry_url = reverse("lineage_ui:context_drawing_retry", args=[big.context_id])
    assert f'action="{retry_url}"' in body
    assert reader_client.get(retry_url).status_code == 405
    sent.clear()
    response = reader_client.post(retry_url)
    assert response.status_code == 303
    assert response["Location"].startswith(reverse("lineage_ui:context", args=[big.context_id]))
    assert GraphJob.objects.get().status == "queued"
    assert sent.draws() == [(big.context_id, "")]


def test_the_retry_button_needs_the_csrf_token(reader_user: Any, big: BigContext, sent: Sent) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader_user)
    response = client.post(reverse("lineage_ui:context_drawing_retry", args=[big.context_id]))
    assert response.status_code == 403


def test_the_poll_recovers_a_dead_workers_job(reader_client: Client, big: BigContext, sent: Sent, settings: Any) -> None:
    settings.MLMD_GRAPH_STALE_SECONDS = 10
    page(reader_client, big)
    graph_jobs.claim(big.context_id, "", "task-1")
    GraphJob.objects.update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    sent.clear()
    answer = status(reader_client, big)
    assert answer["state"] == "queued"
    assert "stopped responding" in answer["error"]
    assert sent.draws() == [(big.context_id, "")]


def test_a_job_nobody_takes_up_says_so(reader_client: Client, big: BigContext, sent: Sent) -> None:
    page(reader_client, big)
    GraphJob.objects.update(queued_at=timezone.now() - timedelta(seconds=60))
    answer = status(reader_client, big)
    assert answer["waiting_for_worker"] is True
    assert "is a Celery worker running?" in page(reader_client, big)


def test_a_group_is_expanded_in_its_own_drawing(reader_client: Client, big: BigContext, sent: Sent) -> None:
    precompute.run(big.context_id, runner="task-1")
    base = GraphDrawing.objects.get()
    key = next(g["key"] for g in base.node_index["groups"] if g["type"] == "Trainer" and not g["outcome"])
    body = page(reader_client, big)
    assert f"?expand={key}" in body  # in the group list and in the SVG's links
    sent.clear()
    body = page(reader_client, big, f"?expand={key}")
    assert 'data-testid="graph-job"' in body  # the expanded drawing is being made ...
    assert base.svg[:200] in body  # ... and meanwhile the collapsed one is shown
    assert sent.draws() == [(big.context_id, key)]
    assert precompute.run(big.context_id, key, runner="task-2").status == "done"
    body = page(reader_client, big, f"?expand={key}")
    assert 'data-testid="graph-stored"' in body
    assert "(drawn one by one)" in body
    assert status(reader_client, big, f"?expand={key}")["state"] == "done"
    # A key that is not a group of this context is not drawn.
    sent.clear()
    body = page(reader_client, big, "?expand=g0123456789a")
    assert "There is no group" in body
    assert sent.messages == []


def test_downloads_of_a_stored_drawing(reader_client: Client, big: BigContext, sent: Sent) -> None:
    precompute.run(big.context_id, runner="task-1")
    drawing = GraphDrawing.objects.get()
    url = reverse("lineage_ui:context_graph", args=[big.context_id, "svg"])
    svg = reader_client.get(url)
    assert svg.content.startswith(b"<?xml") and drawing.svg.encode() in svg.content
    dot = reader_client.get(reverse("lineage_ui:context_graph", args=[big.context_id, "dot"]))
    assert dot.content.decode() == drawing.dot
    png = reader_client.get(reverse("lineage_ui:context_graph", args=[big.context_id, "png"]))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert not GraphJob.objects.filter(status="queued").exists()  # a download never queues a drawing


def test_a_large_drawing_is_fetched_by_the_page(reader_client: Client, big: BigContext, sent: Sent, settings: Any) -> None:
    settings.MLMD_GRAPH_INLINE_SVG_BYTES = 1000
    precompute.run(big.context_id, runner="task-1")
    body = page(reader_client, big)
    match = re.search(r'data-svg-url="([^"]+)"', body)
    assert match
    assert GraphDrawing.objects.get().svg[:200] not in body
    response = reader_client.get(match.group(1))
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.decode() == GraphDrawing.objects.get().svg
    assert "immutable" in response["Cache-Control"]


def test_without_workers_the_summary_says_a_worker_would_draw_it(reader_client: Client, big: BigContext) -> None:
    body = page(reader_client, big)
    assert "more than the 300 drawn inside a page request" in body
    assert "A background worker draws the full graph of large runs when one is configured" in body
    assert 'data-testid="graph-job"' not in body
    assert not GraphJob.objects.exists()
    assert status(reader_client, big)["state"] == "none"
    # A drawing made by `manage.py graphs --rebuild` is shown while current.
    precompute.run(big.context_id, runner="manage.py")
    assert 'data-testid="graph-stored"' in page(reader_client, big)


def test_small_contexts_are_drawn_in_the_request(reader_client: Client, sent: Sent) -> None:
    small = build_context(5, name="small-run")  # 25 executions, 75 artifacts
    body = page(reader_client, small)
    assert 'data-testid="graph-job"' not in body
    assert "<svg" in body
    assert not GraphJob.objects.exists()
    assert sent.messages == []


def test_reading_the_status_needs_a_login(client: Client, big: BigContext) -> None:
    response = client.get(reverse("lineage_ui:context_drawing_status", args=[big.context_id]))
    assert response.status_code == 302
    assert client.post(reverse("lineage_ui:context_drawing_retry", args=[big.context_id])).status_code == 302
