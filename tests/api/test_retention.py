"""Retention: DELETE marks DELETED; a staff hard delete removes a run; manage.py prune does it in bulk.

On the demo store: run 2 (context "taxi-pipeline-run-2") wrote the span-2
examples that run 3 also read, so deleting run 2 must keep them.

Ids are looked up by name or URI: on MySQL/MariaDB a rolled-back test does
not give its AUTO_INCREMENT values back, so they depend on the tests run before.
"""
from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from store.models import Artifact, Association, Attribution, Context, Event, Execution, ParentContext
from store.services import retention
from store.services.errors import NotFound
from tests.api.helpers import assert_error

RUN_2_STEPS = ["ExampleGen", "StatisticsGen", "SchemaGen", "Transform", "Trainer", "Evaluator", "Pusher"]
# What run 2 alone produced, in the order it produced them.
RUN_2_ARTIFACT_URIS = [
    *(f"gs://demo-bucket/taxi/run-2/{part}" for part in ("statistics", "schema", "transform", "model", "evaluation")),
    "/serving/taxi/2",
]
SPAN_2_URI = "gs://demo-bucket/taxi/examples/span-2"


def context_id(name: str) -> int:
    return Context.objects.get(name=name).id


def artifact_id(uri: str) -> int:
    return Artifact.objects.get(uri=uri).id


def run_2() -> int:
    """The context id of taxi-pipeline-run-2."""
    return context_id("taxi-pipeline-run-2")


def run_2_executions() -> list[int]:
    return [Execution.objects.get(name=f"run2-{step}").id for step in RUN_2_STEPS]


def span_2_examples() -> int:
    return artifact_id(SPAN_2_URI)


def assert_consistent() -> None:
    """No edge points at a missing node."""
    artifacts = set(Artifact.objects.values_list("id", flat=True))
    executions = set(Execution.objects.values_list("id", flat=True))
    contexts = set(Context.objects.values_list("id", flat=True))
    for artifact_id, execution_id in Event.objects.values_list("artifact_id", "execution_id"):
        assert artifact_id in artifacts and execution_id in executions
    assert set(Attribution.objects.values_list("context_id", flat=True)) <= contexts
    assert set(Association.objects.values_list("execution_id", flat=True)) <= executions
    for child, parent in ParentContext.objects.values_list("context_id", "parent_id"):
        assert child in contexts and parent in contexts


def test_dry_run_reports_and_changes_nothing(demo: Any) -> None:
    before = (Artifact.objects.count(), Execution.objects.count(), Event.objects.count())
    report = retention.delete_context_run(run_2(), dry_run=True)
    assert report.dry_run and report.context_name == "taxi-pipeline-run-2" and report.context_type == "PipelineRun"
    assert report.execution_ids == run_2_executions()
    assert report.kept_artifact_ids == [span_2_examples()]
    assert report.artifact_ids == [artifact_id(uri) for uri in RUN_2_ARTIFACT_URIS]
    assert report.events == 7 + (0 + 1 + 1 + 2 + 3 + 2 + 2)
    assert report.parent_links == 1
    assert before == (Artifact.objects.count(), Execution.objects.count(), Event.objects.count())


def test_delete_removes_the_run_and_keeps_shared_artifacts(demo: Any) -> None:
    run, executions, examples = run_2(), run_2_executions(), span_2_examples()
    report = retention.delete_context_run(run)
    assert not report.dry_run
    assert not Context.objects.filter(id=run).exists()
    assert not Execution.objects.filter(id__in=executions).exists()
    assert not Artifact.objects.filter(id__in=report.artifact_ids).exists()
    assert Artifact.objects.filter(id=examples).exists()
    # Run 3 still reads the kept examples: its lineage is whole.
    assert Event.objects.filter(artifact_id=examples, execution__name="run3-Trainer").exists()
    assert Context.objects.filter(name="taxi-baseline").exists()  # the experiment stays
    assert_consistent()


def test_delete_of_a_missing_context(db: None) -> None:
    with pytest.raises(NotFound):
        retention.delete_context_run(424242)


def test_delete_is_one_transaction(demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (Artifact.objects.count(), Execution.objects.count(), Event.objects.count(), Context.objects.count())

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("store.services.retention.Context.objects.filter", fail, raising=False)
    run = run_2()
    with pytest.raises(RuntimeError):
        retention.delete_context_run(run)
    monkeypatch.undo()
    assert before == (Artifact.objects.count(), Execution.objects.count(), Event.objects.count(), Context.objects.count())


def test_api_hard_delete_is_staff_only(demo: Any, api: Any) -> None:
    run, executions, examples = run_2(), run_2_executions(), span_2_examples()
    run_3, run_3_model = context_id("taxi-pipeline-run-3"), artifact_id("gs://demo-bucket/taxi/run-3/model")
    assert_error(api("writer").delete(f"/api/v1/contexts/{run}/run"), 403)
    preview = api("staff").delete(f"/api/v1/contexts/{run}/run?dry_run=true")
    assert preview.status_code == 200 and preview.json()["dry_run"] is True
    assert Context.objects.filter(id=run).exists()
    done = api("staff").delete(f"/api/v1/contexts/{run}/run")
    assert done.status_code == 200
    body = done.json()
    assert body["execution_ids"] == executions and body["kept_artifact_ids"] == [examples]
    assert_error(api("staff").get(f"/api/v1/contexts/{run}"), 404)
    # Lineage of what remains: run 3's model still traces back to the kept examples.
    lineage = api("reader").get(f"/api/v1/artifacts/{run_3_model}/lineage?direction=upstream").json()
    keys = {n["key"] for n in lineage["nodes"]}
    assert f"artifact/{examples}" in keys
    assert not keys & {f"execution/{e}" for e in executions}
    assert all(e["source"] in keys and e["target"] in keys for e in lineage["edges"])
    assert_error(api("staff").delete(f"/api/v1/contexts/{run_3}/run?dry_run=maybe"), 400, "dry_run")
    assert Context.objects.filter(id=run_3).exists()
    assert_consistent()


def test_api_delete_marks_deleted_and_keeps_lineage(demo: Any, api: Any) -> None:
    model = artifact_id("gs://demo-bucket/taxi/run-2/model")
    trainer = Execution.objects.get(name="run2-Trainer").id
    response = api("writer").delete(f"/api/v1/artifacts/{model}")
    assert response.json()["state"] == "DELETED"
    lineage = api("reader").get(f"/api/v1/artifacts/{model}/lineage").json()
    assert any(n["key"] == f"execution/{trainer}" for n in lineage["nodes"])


# ---------------------------------------------------------------------------- manage.py prune


def _prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_prune_dry_run(demo: Any) -> None:
    before = Execution.objects.count()
    output = _prune("--before", "2999-01-01", "--context-type", "PipelineRun", "--dry-run")
    assert "Would remove 5 contexts" in output
    assert Execution.objects.count() == before


def test_prune_runs_before_a_date(demo: Any) -> None:
    cutoff = Context.objects.get(name="taxi-pipeline-run-3").create_time_since_epoch
    examples = span_2_examples()
    output = _prune("--before", str(_iso(cutoff)), "--context-type", "PipelineRun")
    remaining = set(Context.objects.filter(type__name="PipelineRun").values_list("name", flat=True))
    assert remaining == {"taxi-pipeline-run-3", "taxi-pipeline-run-4", "taxi-pipeline-run-5"}
    assert output.startswith("Removed 2 contexts")
    assert Artifact.objects.filter(id=examples).exists()  # run 3 still reads it
    assert Context.objects.filter(type__name="Experiment").count() == 2
    assert_consistent()


def test_prune_everything_old(demo: Any) -> None:
    _prune("--before", "2999-01-01T00:00:00Z")
    assert not Context.objects.exists() and not Execution.objects.exists() and not Event.objects.exists()
    assert_consistent()


def test_prune_refuses_a_bad_date(db: None) -> None:
    with pytest.raises(CommandError, match="not an ISO 8601"):
        _prune("--before", "last tuesday")


def test_prune_shows_a_progress_bar(demo: Any) -> None:
    err = io.StringIO()
    from tqdm import tqdm

    original = tqdm.__init__

    def forced(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = False
        kwargs["file"] = err
        original(self, *args, **kwargs)

    from unittest import mock

    with mock.patch.object(tqdm, "__init__", forced):
        call_command("prune", "--before", "2999-01-01", "--context-type", "PipelineRun", "--dry-run", stdout=io.StringIO())
    assert "prune" in err.getvalue() and "5/5" in err.getvalue()


def _iso(milliseconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).isoformat()
