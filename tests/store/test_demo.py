"""The demo loader: realistic, connected, idempotent."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from store.models import Artifact, Context, Execution
from store.proto import metadata_store_pb2 as pb
from store.services import lineage
from tests.store.mlmd import row_counts

pytestmark = pytest.mark.django_db


def test_every_model_traces_back_to_a_dataset_and_a_second_load_changes_nothing() -> None:
    call_command("load_demo", stdout=io.StringIO())
    counts = row_counts()
    models = Artifact.objects.filter(type__name="Model")
    assert models.count() == 4  # five runs, one failed at the Trainer
    for model in models:
        walk = lineage.walk([model.id], [], direction=pb.LineageSubgraphQueryOptions.UPSTREAM)
        upstream_types = set(
            Artifact.objects.filter(id__in=walk.artifacts).values_list("type__base_type", flat=True)
        )
        assert pb.ArtifactType.DATASET in upstream_types, f"model {model.id} has no dataset upstream"
        assert Execution.objects.filter(id__in=walk.executions, type__name="Trainer").exists()
    assert Execution.objects.filter(last_known_state=pb.Execution.FAILED).count() == 1
    runs = Context.objects.filter(type__name="PipelineRun")
    assert runs.count() == 5 and all(run.parent_links.count() == 1 for run in runs)
    call_command("load_demo", stdout=io.StringIO())
    assert row_counts() == counts
