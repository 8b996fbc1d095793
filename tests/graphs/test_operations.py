"""Operations: ``manage.py graphs`` and the admin pages of the drawing jobs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from store.models import GraphDrawing, GraphJob
from tests.graphs.builders import BigContext, build_context
from tests.graphs.conftest import Sent

pytestmark = pytest.mark.django_db(transaction=True)


def test_rebuild_draws_the_large_contexts(big: BigContext) -> None:
    small = build_context(2, name="small-run")
    out = StringIO()
    call_command("graphs", "--rebuild", "--no-progress", stdout=out)
    assert "rebuilt 1, skipped 0, failed 0" in out.getvalue()
    assert list(GraphDrawing.objects.values_list("context_id", flat=True)) == [big.context_id]
    # Again: drawn again (a rebuild is forced), and one context on request, small or not.
    out = StringIO()
    call_command("graphs", "--rebuild", "--context", str(small.context_id), "--no-progress", stdout=out)
    assert "rebuilt 1" in out.getvalue()
    assert GraphJob.objects.get(context_id=small.context_id).draws == 1
    out = StringIO()
    call_command("graphs", "--status", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["context", "group", "status"]
    assert any(line.split()[:3] == [str(big.context_id), "-", "done"] for line in lines)


def test_rebuild_shows_a_progress_bar(big: BigContext, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("graphs", "--rebuild", "--context", str(big.context_id))
    err = capsys.readouterr().err
    assert "contexts: 100%" in err  # tqdm writes to stderr


def test_rebuild_of_an_unknown_context_is_an_error(db: None) -> None:
    with pytest.raises(CommandError, match="no context with id 999"):
        call_command("graphs", "--rebuild", "--context", "999")


def test_enqueue_hands_the_contexts_to_the_workers(big: BigContext, sent: Sent) -> None:
    out = StringIO()
    call_command("graphs", "--rebuild", "--enqueue", stdout=out)
    assert "queued 1 drawing for the workers" in out.getvalue()
    assert sent.draws() == [(big.context_id, "")]


def test_enqueue_without_workers_is_an_error(big: BigContext) -> None:
    with pytest.raises(CommandError, match="needs the Celery workers"):
        call_command("graphs", "--rebuild", "--enqueue")


def test_sweep(big: BigContext, sent: Sent) -> None:
    out = StringIO()
    call_command("graphs", "--sweep", stdout=out)
    assert out.getvalue().startswith("sweep: 0 recovered")


@pytest.mark.urls("tests.graphs.admin_urls")
def test_the_admin_lists_jobs_and_drawings(superuser_client: Client, big: BigContext, sent: Sent) -> None:
    call_command("graphs", "--rebuild", "--no-progress", stdout=StringIO())
    jobs = superuser_client.get(reverse("admin:store_graphjob_changelist"))
    assert jobs.status_code == 200
    assert b"big-run" in jobs.content and b"done" in jobs.content
    drawings = superuser_client.get(reverse("admin:store_graphdrawing_changelist"))
    assert drawings.status_code == 200
    job = GraphJob.objects.get()
    for query in ("q=big", f"q={big.context_id}", "q=%22quoted+term%22", "q=99999999999999999999999"):
        for name in ("admin:store_graphjob_changelist", "admin:store_graphdrawing_changelist"):
            response = superuser_client.get(f"{reverse(name)}?{query}")
            assert response.status_code == 200, (name, query)
    assert superuser_client.get(f"{reverse('admin:store_graphjob_changelist')}?status__exact=done").status_code == 200
    found = superuser_client.get(f"{reverse('admin:store_graphjob_changelist')}?q={big.context_id}")
    assert list(found.context["cl"].result_list) == [job]
    assert superuser_client.get(reverse("admin:store_graphjob_add")).status_code == 403  # made by workers only
    assert superuser_client.get(reverse("admin:store_graphjob_change", args=[job.id])).status_code == 200
    drawing = GraphDrawing.objects.get()
    assert superuser_client.get(reverse("admin:store_graphdrawing_change", args=[drawing.id])).status_code == 200
    sent.clear()
    response = superuser_client.post(
        reverse("admin:store_graphjob_changelist"), {"action": "redraw", "_selected_action": [job.id]}
    )
    assert response.status_code == 302
    assert sent.draws() == [(big.context_id, "")]
