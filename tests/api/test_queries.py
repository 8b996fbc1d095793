"""List filters, ordering, cursor pagination, lineage, a context's graph and the cache lookup (on the demo store).

Ids are looked up by URI or name: on MySQL/MariaDB a rolled-back test does not
give its AUTO_INCREMENT values back, so they depend on the tests run before.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from store.demo import load_demo
from store.models import Artifact, Context, Execution
from tests.api.helpers import assert_error, post


@pytest.fixture(scope="module")
def demo_tokens(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """The demo store and a reader's token, made once for the module (in a transaction undone at its end)."""
    with django_db_blocker.unblock(), transaction.atomic():
        load_demo()
        reader = User.objects.create_user("demo-reader")
        yield {"reader": Token.objects.create(user=reader).key}
        transaction.set_rollback(True)


@pytest.fixture
def store(db: None, demo_tokens: dict[str, str]) -> dict[str, str]:
    return demo_tokens


@pytest.fixture
def reader(store: dict[str, str]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {store['reader']}")
    return client


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.json()
    return [n["id"] for n in response.json()["results"]]


def artifact(uri: str) -> int:
    """The id of the demo artifact at ``uri`` (a run's part is ``gs://demo-bucket/taxi/run-N/<part>``)."""
    if not uri.startswith("/"):
        uri = f"gs://demo-bucket/taxi/{uri}"
    return Artifact.objects.get(uri=uri).id


def execution(name: str) -> int:
    return Execution.objects.get(name=name).id


def context(name: str) -> int:
    return Context.objects.get(name=name).id


def missing(model: Any) -> int:
    """An id that no row of ``model`` has."""
    return (model.objects.aggregate(top=Max("id"))["top"] or 0) + 1


def test_filters(reader: Any, store: Any) -> None:
    pushed = [artifact("/serving/taxi/2"), artifact("/serving/taxi/3"), artifact("/serving/taxi/5")]
    assert ids(reader.get("/api/v1/artifacts?type=PushedModel")) == pushed
    assert ids(reader.get("/api/v1/artifacts?uri=/serving/taxi/3")) == [artifact("/serving/taxi/3")]
    assert ids(reader.get("/api/v1/executions?state=FAILED")) == [execution("run4-Trainer")]
    trainers = [execution(f"run{n}-Trainer") for n in range(1, 6)]
    assert ids(reader.get("/api/v1/executions?state=failed,complete&type=Trainer")) == trainers
    assert ids(reader.get("/api/v1/executions?name=run2-Trainer")) == [execution("run2-Trainer")]
    assert ids(reader.get("/api/v1/contexts?type=Experiment")) == [context("taxi-baseline"), context("taxi-wide-deep")]
    assert ids(reader.get("/api/v1/artifacts?type=Nope")) == []
    run_2_artifacts = ids(reader.get(f"/api/v1/artifacts?context={context('taxi-pipeline-run-2')}&type=Model"))
    assert run_2_artifacts == [artifact("run-2/model")]


def test_time_ranges(reader: Any, store: Any) -> None:
    first = Execution.objects.order_by("id").first()
    last = Execution.objects.order_by("id").last()
    assert first is not None and last is not None
    everything = ids(reader.get(f"/api/v1/executions?created_after={first.create_time_since_epoch}&page_size=500"))
    assert len(everything) == 30
    assert ids(reader.get(f"/api/v1/executions?created_before={first.create_time_since_epoch}")) == []
    assert ids(reader.get("/api/v1/executions?created_after=2999-01-01")) == []
    assert len(ids(reader.get("/api/v1/executions?updated_after=2000-01-01T00:00:00Z&page_size=500"))) == 30
    assert ids(reader.get("/api/v1/executions?updated_before=2000-01-01")) == []
    assert_error(reader.get("/api/v1/executions?created_after=yesterday"), 400, "created_after")


def test_filter_query(reader: Any, store: Any) -> None:
    response = reader.get("/api/v1/artifacts", {"filter": "type = 'Model' AND contexts_a.name = 'taxi-pipeline-run-2'"})
    assert ids(response) == [artifact("run-2/model")]
    response = reader.get("/api/v1/executions", {"filter": "properties.train_steps.int_value > 4000", "type": "Trainer"})
    assert ids(response) == [execution("run3-Trainer"), execution("run4-Trainer"), execution("run5-Trainer")]


def test_bad_filter_query_names_the_position(reader: Any, store: Any) -> None:
    body = assert_error(reader.get("/api/v1/artifacts", {"filter": "uri = 'x' AND AND"}), 400, "filter")
    assert isinstance(body["position"], int) and body["position"] > 0


def test_ordering_and_cursor_pagination(reader: Any, store: Any) -> None:
    seen: list[int] = []
    url: str | None = "/api/v1/artifacts?page_size=7&ordering=-id"
    pages = 0
    while url:
        page = reader.get(url).json()
        seen += [a["id"] for a in page["results"]]
        url = page["next"]
        pages += 1
    assert len(seen) == 29
    assert seen == sorted(Artifact.objects.values_list("id", flat=True), reverse=True)
    assert pages == 5
    by_time = ids(reader.get("/api/v1/executions?ordering=create_time&page_size=500"))
    assert by_time == sorted(by_time, key=lambda i: (Execution.objects.get(id=i).create_time_since_epoch, i))


def test_a_cursor_belongs_to_its_query(reader: Any, store: Any) -> None:
    page = reader.get("/api/v1/artifacts?page_size=3&type=Model").json()
    assert [a["id"] for a in page["results"]] == [artifact("run-1/model"), artifact("run-2/model"), artifact("run-3/model")]
    assert ids(reader.get(f"/api/v1/artifacts?page_size=3&type=Model&cursor={page['next_cursor']}")) == [artifact("run-5/model")]
    page = reader.get("/api/v1/artifacts?page_size=2&type=Model").json()
    assert_error(reader.get(f"/api/v1/artifacts?page_size=2&type=Examples&cursor={page['next_cursor']}"), 400, "cursor")
    assert_error(reader.get("/api/v1/artifacts?cursor=garbage"), 400, "cursor")
    assert_error(reader.get("/api/v1/events?cursor=garbage"), 400, "cursor")


@pytest.mark.parametrize(
    ("query", "field"),
    [("page_size=0", "page_size"), ("page_size=x", "page_size"), ("ordering=name", "ordering"),
     ("state=ALIVE", "state"), ("context=x", "context"), ("type_id=-1", "type_id"), ("colour=red", "colour"),
     ("type_version=1", "type_version")],
)
def test_bad_list_parameters(reader: Any, store: Any, query: str, field: str) -> None:
    assert_error(reader.get(f"/api/v1/artifacts?{query}"), 400, field)


def test_lineage_upstream_downstream_and_hops(reader: Any, store: Any) -> None:
    pushed, examples = artifact("/serving/taxi/2"), artifact("examples/span-2")  # run 2's pushed model; span 2's examples
    upstream = reader.get(f"/api/v1/artifacts/{pushed}/lineage?direction=upstream").json()
    kinds = {(n["kind"], n["type"]) for n in upstream["nodes"]}
    assert ("execution", "ExampleGen") in kinds and ("artifact", "Examples") in kinds
    assert all(e["source"].split("/")[0] != e["target"].split("/")[0] for e in upstream["edges"])
    node_keys = {n["key"] for n in upstream["nodes"]}
    assert all(e["source"] in node_keys and e["target"] in node_keys for e in upstream["edges"])
    assert {c["name"] for c in upstream["contexts"]} >= {"taxi-pipeline-run-2"}
    one_hop = reader.get(f"/api/v1/artifacts/{pushed}/lineage?direction=upstream&hops=1").json()
    assert {n["key"] for n in one_hop["nodes"]} == {f"artifact/{pushed}", f"execution/{execution('run2-Pusher')}"}
    downstream = reader.get(f"/api/v1/artifacts/{examples}/lineage?direction=downstream&hops=2").json()
    downstream_executions = {n["id"] for n in downstream["nodes"] if n["kind"] == "execution"}
    # runs 2 and 3 read span-2's examples
    assert downstream_executions == {
        execution(f"run{run}-{step}") for run in (2, 3) for step in ("StatisticsGen", "Transform", "Trainer", "Evaluator")
    }
    both = reader.get(f"/api/v1/artifacts/{examples}/lineage").json()
    assert {n["key"] for n in both["nodes"]} >= {n["key"] for n in downstream["nodes"]}
    assert_error(reader.get(f"/api/v1/artifacts/{examples}/lineage?direction=sideways"), 400, "direction")
    assert_error(reader.get(f"/api/v1/artifacts/{examples}/lineage?hops=-1"), 400, "hops")
    assert_error(reader.get(f"/api/v1/artifacts/{missing(Artifact)}/lineage"), 404, "id")


def test_context_graph(reader: Any, store: Any) -> None:
    graph = reader.get(f"/api/v1/contexts/{context('taxi-pipeline-run-2')}/graph").json()
    executions = [n for n in graph["nodes"] if n["kind"] == "execution"]
    assert sorted(n["type"] for n in executions) == sorted(
        ["ExampleGen", "StatisticsGen", "SchemaGen", "Transform", "Trainer", "Evaluator", "Pusher"]
    )
    assert len(graph["edges"]) == 7 + (0 + 1 + 1 + 2 + 3 + 2 + 2)
    assert graph["contexts"][0]["name"] == "taxi-pipeline-run-2"
    assert_error(reader.get(f"/api/v1/contexts/{missing(Context)}/graph"), 404, "id")


def test_cache_lookup(reader: Any, store: Any) -> None:
    # run 2's examples, transform graph, schema
    trainer_inputs = [{"id": artifact(uri)} for uri in ("examples/span-2", "run-2/transform", "run-2/schema")]
    properties = {"train_steps": 1000, "learning_rate": 0.01, "module_file": "taxi_utils.py"}
    response = post(reader, "/api/v1/executions/lookup", {"type": "Trainer", "properties": properties, "inputs": trainer_inputs})
    assert response.status_code == 200, response.json()
    [hit] = response.json()["hits"]
    assert hit["execution"]["id"] == execution("run2-Trainer")
    assert [a["type"] for a in hit["outputs"]] == ["Model"]
    miss = post(reader, "/api/v1/executions/lookup", {"type": "Trainer", "properties": {**properties, "train_steps": 7},
                                                      "inputs": trainer_inputs})
    assert miss.json() == {"hits": []}
    by_uri = post(reader, "/api/v1/executions/lookup", {
        "type": "Trainer", "properties": properties,
        "inputs": [{"uri": "gs://demo-bucket/taxi/examples/span-2"}, {"uri": "gs://demo-bucket/taxi/run-2/transform"},
                   {"uri": "gs://demo-bucket/taxi/run-2/schema"}],
    })
    assert [h["execution"]["id"] for h in by_uri.json()["hits"]] == [execution("run2-Trainer")]
    assert_error(post(reader, "/api/v1/executions/lookup", {"type": "Nope"}), 400, "type")
    assert Artifact.objects.count() == 29  # a lookup writes nothing
