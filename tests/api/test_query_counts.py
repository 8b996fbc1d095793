"""No N+1: list and graph endpoints run a fixed number of queries, whatever the number of rows."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from store.models import Artifact, Context
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api as core

LISTS = [
    "/api/v1/artifacts?page_size=500",
    "/api/v1/artifacts?page_size=500&type=DataSet&state=LIVE&filter=properties.day.int_value%20%3E%3D%200",
    "/api/v1/executions?page_size=500",
    "/api/v1/contexts?page_size=500",
    "/api/v1/artifact-types?page_size=500",
    "/api/v1/events?page_size=500",
    "/api/v1/attributions?page_size=500",
    "/api/v1/associations?page_size=500",
    "/api/v1/parent-contexts?page_size=500",
]


def record_runs(count: int, types: dict[str, int], start: int = 0) -> None:
    """``count`` runs, each a Trainer reading a new DataSet and writing a Model in its own PipelineRun."""
    for n in range(start, start + count):
        request = svc.PutExecutionRequest(
            execution=pb.Execution(type_id=types["Trainer"], properties={"steps": pb.Value(int_value=n)}),
            contexts=[pb.Context(type_id=types["PipelineRun"], name=f"run-{n}"),
                      pb.Context(type_id=types["Experiment"], name="exp", properties={"owner": pb.Value(string_value="a")})],
        )
        request.options.reuse_context_if_already_exist = True
        for type_name, event_type in (("DataSet", pb.Event.INPUT), ("Model", pb.Event.OUTPUT)):
            pair = request.artifact_event_pairs.add()
            pair.artifact.CopyFrom(pb.Artifact(type_id=types[type_name], uri=f"s3://{type_name}/{n}", state=pb.Artifact.LIVE))
            if type_name == "DataSet":
                pair.artifact.properties["day"].int_value = n
            pair.event.type = event_type
        response = core.call("PutExecution", request)
        if n:
            core.call("PutParentContexts", svc.PutParentContextsRequest(
                parent_contexts=[pb.ParentContext(child_id=response.context_ids[0], parent_id=response.context_ids[1])]))


def queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.json()
    return len(captured)


@pytest.mark.parametrize("url", LISTS)
def test_lists_do_not_grow_with_rows(reader: Any, dataset_types: dict[str, int], url: str,
                                     django_assert_max_num_queries: Any) -> None:
    record_runs(3, dataset_types)
    few = queries(reader, url)
    record_runs(30, dataset_types, start=3)
    assert queries(reader, url) == few
    with django_assert_max_num_queries(6):
        reader.get(url)


def test_graph_endpoints_do_not_grow_with_rows(reader: Any, dataset_types: dict[str, int],
                                               django_assert_max_num_queries: Any) -> None:
    record_runs(3, dataset_types)
    # Looked up, not assumed: MySQL/MariaDB do not give AUTO_INCREMENT values back on rollback.
    graph = f"/api/v1/contexts/{Context.objects.get(name='exp').id}/graph"  # the experiment: every run
    lineage = f"/api/v1/artifacts/{Artifact.objects.get(uri='s3://DataSet/0').id}/lineage"  # the first run's data set
    graph_few = queries(reader, graph)
    lineage_few = queries(reader, lineage)
    record_runs(30, dataset_types, start=3)
    assert queries(reader, graph) == graph_few
    assert queries(reader, lineage) == lineage_few
    with django_assert_max_num_queries(20):
        reader.get(graph)
