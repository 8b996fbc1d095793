"""Dashboard pages through the Django test client, on data recorded through the core."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lineage_ui import graphs
from store.models import Artifact, Context, Execution, Type
from store.proto import metadata_store_pb2 as pb
from tests.base import PASSWORD, READER
from tests.ui.builders import Pipeline, artifact, put_execution, put_types, record_wide_context

pytestmark = pytest.mark.django_db


def html(response: Any) -> str:
    return response.content.decode()


def page_urls(p: Pipeline) -> list[str]:
    """One URL of every dashboard page."""
    context_type = Type.objects.get(name="PipelineRun").id
    return [
        reverse("lineage_ui:home"),
        reverse("lineage_ui:search") + "?q=taxi",
        reverse("lineage_ui:contexts"),
        reverse("lineage_ui:artifacts"),
        reverse("lineage_ui:executions"),
        reverse("lineage_ui:context_type", args=[context_type]),
        reverse("lineage_ui:artifact_type", args=[p.types["Model"]]),
        reverse("lineage_ui:execution_type", args=[p.types["Trainer"]]),
        reverse("lineage_ui:context", args=[p.experiment]),
        reverse("lineage_ui:artifact", args=[p.dataset]),
        reverse("lineage_ui:execution", args=[p.trainers[0]]),
        reverse("lineage_ui:types"),
        reverse("lineage_ui:compare") + f"?a={p.models[0]}&b={p.models[1]}",
        reverse("lineage_ui:context_graph", args=[p.experiment, "svg"]),
        reverse("lineage_ui:artifact_graph", args=[p.dataset, "dot"]),
        reverse("lineage_ui:execution_graph", args=[p.trainers[0], "dot"]),
    ]


# ---------------------------------------------------------------------------- access


def test_every_page_needs_a_login(client: Client, pipeline: Pipeline) -> None:
    for url in page_urls(pipeline):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url


def test_every_page_answers_a_reader(reader_client: Client, pipeline: Pipeline) -> None:
    for url in page_urls(pipeline):
        assert reader_client.get(url).status_code == 200, url


def test_anonymous_read_setting_opens_the_pages(client: Client, pipeline: Pipeline, settings: Any) -> None:
    settings.MLMD_ANONYMOUS_READ = True
    for url in page_urls(pipeline):
        assert client.get(url).status_code == 200, url
    assert "Log in" in html(client.get(reverse("lineage_ui:home")))


def test_pages_are_read_only(reader_client: Client, pipeline: Pipeline) -> None:
    assert reader_client.post(reverse("lineage_ui:home")).status_code == 405
    assert reader_client.post(reverse("lineage_ui:context", args=[pipeline.experiment])).status_code == 405


def test_login_page_logs_in_with_the_admin_account(client: Client, users: Any) -> None:
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'name="password"' in html(page)
    response = client.post(reverse("login"), {"username": READER, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("lineage_ui:home")
    assert client.get(reverse("lineage_ui:home")).status_code == 200


def test_logout_link_is_a_post_form(reader_client: Client, db: None) -> None:
    body = html(reader_client.get(reverse("lineage_ui:home")))
    assert f'action="{reverse("logout")}"' in body
    assert "Log out" in body
    assert reader_client.post(reverse("logout")).status_code == 302
    assert reader_client.get(reverse("lineage_ui:home")).status_code == 302


def test_staff_see_admin_links(staff_client: Client, reader_client: Client, pipeline: Pipeline) -> None:
    url = reverse("lineage_ui:context", args=[pipeline.experiment])
    context_admin = reverse("admin:store_context_change", args=[pipeline.experiment])
    type_admin = reverse("admin:store_contexttype_change", args=[Context.objects.get(id=pipeline.experiment).type_id])
    staff_page = html(staff_client.get(url))
    assert context_admin in staff_page
    assert type_admin in staff_page
    assert reverse("admin:index") in staff_page
    reader_page = html(reader_client.get(url))
    assert context_admin not in reader_page
    assert reverse("admin:index") not in reader_page
    artifact_page = html(staff_client.get(reverse("lineage_ui:artifact", args=[pipeline.dataset])))
    assert reverse("admin:store_artifacttype_change", args=[pipeline.types["Examples"]]) in artifact_page
    assert reverse("admin:store_artifact_change", args=[pipeline.dataset]) in artifact_page
    types_page = html(staff_client.get(reverse("lineage_ui:types")))
    assert reverse("admin:store_executiontype_change", args=[pipeline.types["Trainer"]]) in types_page


# ---------------------------------------------------------------------------- empty store and errors


def test_empty_store_shows_how_to_record_a_first_run(reader_client: Client) -> None:
    body = html(reader_client.get(reverse("lineage_ui:home")))
    assert "record a first run" in body
    assert "PutExecution" in body  # gRPC client
    assert "store.put_execution(" in body  # in-process API
    assert "API=http://testserver/api/v1" in body
    assert "curl -X POST $API/executions/record" in body


@pytest.mark.parametrize(
    "url",
    [
        "/contexts/999999/",
        "/artifacts/999999/",
        "/executions/999999/",
        "/contexts/type/999999/",
        "/artifacts/type/999999/",
        "/contexts/999999/graph.svg",
        "/artifacts/999999/lineage.png",
        "/executions/999999/lineage.dot",
        "/artifacts/99999999999999999999999/",
        "/no/such/page/",
    ],
)
def test_missing_things_are_404_pages(reader_client: Client, db: None, url: str, settings: Any) -> None:
    settings.DEBUG = False
    response = reader_client.get(url)
    assert response.status_code == 404
    assert "Not found" in html(response)
    assert "Go to the dashboard" in html(response)


def test_unknown_download_format_is_404(reader_client: Client, pipeline: Pipeline) -> None:
    assert reader_client.get(f"/contexts/{pipeline.experiment}/graph.gif").status_code == 404


def test_a_type_of_another_kind_is_404(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:context_type", args=[pipeline.types["Model"]]))
    assert response.status_code == 404


@pytest.mark.parametrize("query", ["?hops=abc", "?hops=-4", "?hops=100000", "?epage=zz&apage=0", "?page=99999"])
def test_bad_parameters_fall_back_to_defaults(reader_client: Client, pipeline: Pipeline, query: str) -> None:
    for url in (
        reverse("lineage_ui:artifact", args=[pipeline.dataset]),
        reverse("lineage_ui:context", args=[pipeline.experiment]),
        reverse("lineage_ui:artifact_type", args=[pipeline.types["Model"]]),
    ):
        assert reader_client.get(url + query).status_code == 200, url + query


def test_graphviz_failure_is_a_message_not_an_error(
    reader_client: Client, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(dot: str, fmt: str) -> bytes:
        raise graphs.DrawingError("Graphviz is not installed (the dot program was not found)")

    monkeypatch.setattr(graphs, "render", broken)
    response = reader_client.get(reverse("lineage_ui:context", args=[pipeline.experiment]))
    assert response.status_code == 200
    assert "The graph could not be drawn" in html(response)
    download = reader_client.get(reverse("lineage_ui:context_graph", args=[pipeline.experiment, "png"]))
    assert download.status_code == 503


# ---------------------------------------------------------------------------- home and search


def test_home_counts_and_lists(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:home"))
    overview = response.context["overview"]
    assert overview.totals == {"artifact": 5, "execution": 6, "context": 4}
    assert overview.failed_total == 1
    assert [row.id for row in overview.failed_executions] == [pipeline.failed]
    body = html(response)
    assert "taxi-experiment" in body
    assert reverse("lineage_ui:execution", args=[pipeline.failed]) in body
    assert "record a first run" not in body


def test_search_by_name_and_uri(reader_client: Client, pipeline: Pipeline) -> None:
    result = reader_client.get(reverse("lineage_ui:search"), {"q": "models/taxi"}).context["result"]
    assert result.mode == "text"
    by_kind = {k.kind: [r.id for r in k.rows] for k in result.kinds}
    assert sorted(by_kind["artifact"]) == sorted(pipeline.models)
    result = reader_client.get(reverse("lineage_ui:search"), {"q": "taxi-exp"}).context["result"]
    assert [r.id for k in result.kinds for r in k.rows] == [pipeline.experiment]


def test_search_by_id_finds_every_kind(reader_client: Client, pipeline: Pipeline) -> None:
    # One id that an artifact, an execution and a context all have.  On a fresh SQLite store the pipeline's
    # first node of each kind has id 1; MySQL/MariaDB do not give AUTO_INCREMENT values back on rollback, so
    # there the first nodes' ids differ and the kinds that lack the largest of them get a node with that id.
    node_id = max(pipeline.dataset, pipeline.example_gen, pipeline.experiment)
    if not Artifact.objects.filter(id=node_id).exists():
        Artifact.objects.create(id=node_id, type_id=pipeline.types["Examples"], uri="s3://data/shared-id")
    if not Execution.objects.filter(id=node_id).exists():
        Execution.objects.create(id=node_id, type_id=pipeline.types["ExampleGen"], name="shared-id")
    if not Context.objects.filter(id=node_id).exists():
        Context.objects.create(id=node_id, type_id=pipeline.types["Experiment"], name="shared-id")
    result = reader_client.get(reverse("lineage_ui:search"), {"q": f"#{node_id}"}).context["result"]
    assert result.mode == "id"
    assert {k.kind for k in result.kinds if k.rows} == {"artifact", "execution", "context"}


def test_search_with_a_filter_query_shows_results_per_kind(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:search"), {"q": "name LIKE 'model-%'"})
    result = response.context["result"]
    assert result.mode == "filter"
    by_kind = {k.kind: k for k in result.kinds}
    assert sorted(r.id for r in by_kind["artifact"].rows) == sorted(pipeline.models)
    assert by_kind["execution"].total == 0
    # uri exists on artifacts only: other kinds say so, artifacts still answer.
    result = reader_client.get(reverse("lineage_ui:search"), {"q": "uri LIKE 's3://models/%'"}).context["result"]
    by_kind = {k.kind: k for k in result.kinds}
    assert by_kind["artifact"].total == 2
    assert "is not an attribute of executions" in by_kind["execution"].error
    assert "Not applicable to executions" in html(reader_client.get(reverse("lineage_ui:search"), {"q": "uri = 'x'"}))


def test_search_syntax_error_is_shown_with_its_position(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:search"), {"q": "name = 'a' AND (id = 1"})
    assert response.status_code == 400
    body = html(response)
    assert "Syntax error in the filter query" in body
    assert "at position" in body
    assert re.search(r'<pre class="caret"[^>]*>name = &#x27;a&#x27; AND \(id = 1\n\s*\^</pre>', body)


def test_empty_search_goes_home(reader_client: Client, db: None) -> None:
    response = reader_client.get(reverse("lineage_ui:search"), {"q": "  "})
    assert response.status_code == 302


# ---------------------------------------------------------------------------- lists


def test_context_index_lists_context_types(reader_client: Client, pipeline: Pipeline) -> None:
    body = html(reader_client.get(reverse("lineage_ui:contexts")))
    assert reverse("lineage_ui:context_type", args=[pipeline.types["Experiment"]]) in body
    assert reverse("lineage_ui:context_type", args=[pipeline.types["PipelineRun"]]) in body


def test_context_table_has_properties_parents_and_counts(reader_client: Client, pipeline: Pipeline) -> None:
    url = reverse("lineage_ui:context_type", args=[pipeline.types["PipelineRun"]])
    response = reader_client.get(url)
    table = response.context["table"]
    assert table.columns == ["run_number"]
    assert [r.id for r in table.rows] == pipeline.runs
    assert all(table.parents[r.id][0].id == pipeline.experiment for r in table.rows)
    assert [r.extra["executions"] for r in table.rows] == [3, 2, 1]  # run-1 also holds the ExampleGen
    experiment = reader_client.get(reverse("lineage_ui:context_type", args=[pipeline.types["Experiment"]]))
    assert {c.id for c in experiment.context["table"].children[pipeline.experiment]} == set(pipeline.runs)


def test_context_table_sorts_by_field_and_property(reader_client: Client, pipeline: Pipeline) -> None:
    url = reverse("lineage_ui:context_type", args=[pipeline.types["PipelineRun"]])
    by_name_desc = reader_client.get(url, {"sort": "name", "dir": "desc"}).context["table"]
    assert [r.name for r in by_name_desc.rows] == ["run-3", "run-2", "run-1"]
    by_prop = reader_client.get(url, {"sort": "p:run_number", "dir": "desc"})
    assert [r.property("run_number") for r in by_prop.context["table"].rows] == [3, 2, 1]
    # The active column links to the reverse order.
    assert "sort=p%3Arun_number" in html(by_prop)
    unknown = reader_client.get(url, {"sort": "p:nope"}).context["table"]
    assert unknown.sort == "id"


def test_tables_filter_by_text_and_by_filter_query(reader_client: Client, pipeline: Pipeline) -> None:
    url = reverse("lineage_ui:execution_type", args=[pipeline.types["Trainer"]])
    assert [r.id for r in reader_client.get(url, {"filter": "trainer-2"}).context["table"].rows] == [
        pipeline.trainers[1]
    ]
    rows = reader_client.get(url, {"filter": "last_known_state = FAILED"}).context["table"].rows
    assert [r.id for r in rows] == [pipeline.failed]
    rows = reader_client.get(url, {"filter": "properties.train_steps.int_value >= 2000"}).context["table"].rows
    assert [r.id for r in rows] == [pipeline.trainers[1]]
    bad = reader_client.get(url, {"filter": "properties.train_steps.int_value >>= 2"})
    assert bad.status_code == 400
    assert "filter_query:" in html(bad)


def test_tables_paginate(reader_client: Client, pipeline: Pipeline) -> None:
    url = reverse("lineage_ui:context_type", args=[pipeline.types["PipelineRun"]])
    first = reader_client.get(url, {"per_page": 2})
    assert len(first.context["table"].rows) == 2
    assert "page=2" in html(first)
    second = reader_client.get(url, {"per_page": 2, "page": 2}).context["table"]
    assert [r.id for r in second.rows] == pipeline.runs[2:]


def test_type_table_narrowed_to_a_context(reader_client: Client, pipeline: Pipeline) -> None:
    url = reverse("lineage_ui:execution_type", args=[pipeline.types["Trainer"]])
    rows = reader_client.get(url, {"context": pipeline.runs[1]}).context["table"].rows
    assert [r.id for r in rows] == [pipeline.trainers[1]]


def test_artifact_tables_offer_compare(reader_client: Client, pipeline: Pipeline) -> None:
    body = html(reader_client.get(reverse("lineage_ui:artifact_type", args=[pipeline.types["Model"]])))
    assert "data-compare-form" in body
    assert f'name="id" value="{pipeline.models[0]}"' in body
    response = reader_client.get(reverse("lineage_ui:compare"), {"id": [pipeline.models[0], pipeline.models[1]]})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('lineage_ui:compare')}?a={pipeline.models[0]}&b={pipeline.models[1]}"


# ---------------------------------------------------------------------------- context page


def test_context_page(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:context", args=[pipeline.experiment]))
    page = response.context["page"]
    assert page.context.properties == {"owner": "ana"}
    assert {c.id for c in page.children} == set(pipeline.runs)
    assert page.execution_count == 6
    assert page.failed_count == 1
    assert page.artifact_count == 5
    body = html(response)
    assert "<svg" in body
    for execution_id in [*pipeline.trainers, pipeline.failed]:
        assert f'id="node_e{execution_id}"' in body
        assert f'href="{reverse("lineage_ui:execution", args=[execution_id])}"' in body
    for artifact_id in pipeline.models:
        assert f'href="{reverse("lineage_ui:artifact", args=[artifact_id])}"' in body
    assert graphs.FAILED_LINE in body  # the failed trainer is drawn in red
    assert "Legend" in body
    assert 'id="graph-config"' in body  # json_script for the pan/zoom script
    assert "js/graph.js" in body
    assert "onclick" not in body.lower()
    run = html(reader_client.get(reverse("lineage_ui:context", args=[pipeline.runs[0]])))
    assert reverse("lineage_ui:context", args=[pipeline.experiment]) in run  # parent link


def test_context_page_query_count_does_not_grow_with_the_context(
    reader_client: Client, db: None, django_assert_max_num_queries: Any
) -> None:
    small = record_wide_context(3, name="small")
    large = record_wide_context(40, name="large")

    def queries(context_id: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert reader_client.get(reverse("lineage_ui:context", args=[context_id])).status_code == 200
        return len(captured)

    queries(small)  # warm: sessions, content types
    assert queries(small) == queries(large)
    with django_assert_max_num_queries(25):
        reader_client.get(reverse("lineage_ui:context", args=[large]))


def test_list_pages_query_count_does_not_grow(reader_client: Client, db: None) -> None:
    record_wide_context(3, name="small")
    types = put_types()

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert reader_client.get(url).status_code == 200
        return len(captured)

    urls = [
        reverse("lineage_ui:home"),
        reverse("lineage_ui:execution_type", args=[types["Trainer"]]),
        reverse("lineage_ui:artifact_type", args=[types["Model"]]),
        reverse("lineage_ui:context_type", args=[types["PipelineRun"]]),
        reverse("lineage_ui:search") + "?q=step",
        reverse("lineage_ui:types"),
    ]
    queries(urls[0])
    before = [queries(url) for url in urls]
    for number in range(6):
        record_wide_context(4, name=f"more-{number}")
    assert [queries(url) for url in urls] == before


def test_large_context_shows_a_summary_graph(reader_client: Client, db: None, settings: Any) -> None:
    settings.MLMD_INPROCESS_GRAPH_LIMIT = 10
    context_id = record_wide_context(12, name="big")
    response = reader_client.get(reverse("lineage_ui:context", args=[context_id]))
    drawing = response.context["drawing"]
    assert drawing.summary
    assert drawing.total_nodes == 24
    body = html(response)
    assert "more than the 10 drawn inside a page request" in body
    assert "background worker draws the full graph" in body
    assert "× 12" in body  # the Trainer type node counts its executions
    assert "<svg" in body
    dot = reader_client.get(reverse("lineage_ui:context_graph", args=[context_id, "dot"]))
    assert "× 12" in dot.content.decode()


# ---------------------------------------------------------------------------- downloads


def test_downloads(reader_client: Client, pipeline: Pipeline) -> None:
    svg = reader_client.get(reverse("lineage_ui:context_graph", args=[pipeline.experiment, "svg"]))
    assert svg["Content-Type"] == "image/svg+xml"
    assert svg["Content-Disposition"] == f'attachment; filename="context-{pipeline.experiment}.svg"'
    assert b"<svg" in svg.content
    png = reader_client.get(reverse("lineage_ui:artifact_graph", args=[pipeline.dataset, "png"]) + "?hops=2")
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    dot = reader_client.get(reverse("lineage_ui:execution_graph", args=[pipeline.trainers[0], "dot"]))
    assert dot.content.startswith(b"digraph")
    assert f"e{pipeline.trainers[0]} ".encode() in dot.content


# ---------------------------------------------------------------------------- artifact and execution pages


def test_artifact_page(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:artifact", args=[pipeline.models[0]]))
    page = response.context["page"]
    assert page.artifact.uri == "s3://models/taxi/1"
    assert page.artifact.state == "LIVE"
    assert page.artifact.properties == {"framework": "tensorflow"}
    assert [p.node.id for p in page.producers] == [pipeline.trainers[0]]
    assert [c.node.id for c in page.consumers] == [pipeline.evaluators[0]]
    assert {c.name for c in page.contexts} == {"taxi-experiment", "run-1"}
    body = html(response)
    assert f'id="node_a{pipeline.models[0]}"' in body
    assert f'id="node_a{pipeline.dataset}"' in body  # upstream
    assert response.context["impact"] is None  # a model has no "models trained on this"


def test_artifact_lineage_hops(reader_client: Client, pipeline: Pipeline) -> None:
    url = reverse("lineage_ui:artifact", args=[pipeline.models[0]])
    near = html(reader_client.get(url, {"hops": 1}))
    assert f'id="node_e{pipeline.trainers[0]}"' in near
    assert f'id="node_a{pipeline.dataset}"' not in near
    far = html(reader_client.get(url, {"hops": 2}))
    assert f'id="node_a{pipeline.dataset}"' in far


def test_models_trained_on_a_dataset(reader_client: Client, pipeline: Pipeline) -> None:
    impact = reader_client.get(reverse("lineage_ui:artifact", args=[pipeline.dataset])).context["impact"]
    assert [row.artifact.id for row in impact.models] == pipeline.models  # not the evaluations
    assert [row.produced_by[0].id for row in impact.models] == pipeline.trainers
    assert all(row.hops == 1 for row in impact.models)


def test_execution_page(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:execution", args=[pipeline.trainers[0]]))
    page = response.context["page"]
    assert page.execution.type.name == "Trainer"
    assert page.execution.state == "COMPLETE"
    assert page.execution.properties == {"learning_rate": 0.01, "train_steps": 1000}
    assert page.execution.custom_properties == {"seed": 42}
    assert [e.node.id for e in page.inputs] == [pipeline.dataset]
    assert [e.node.id for e in page.outputs] == [pipeline.models[0]]
    assert page.outputs[0].path == "out[0]"
    assert {c.name for c in page.contexts} == {"taxi-experiment", "run-1"}
    assert page.execution.duration_ms is not None
    assert 'data-testid="duration"' in html(response)


def test_execution_page_lists_earlier_runs_with_the_same_inputs(reader_client: Client, pipeline: Pipeline) -> None:
    again, _, _ = put_execution(
        pipeline.types["Trainer"],
        "trainer-1-again",
        inputs=[pipeline.dataset],
        outputs=[artifact(pipeline.types["Model"], "s3://models/taxi/1-again")],
        properties={"learning_rate": 0.01, "train_steps": 1000},
    )
    page = reader_client.get(reverse("lineage_ui:execution", args=[again])).context["page"]
    assert [(run.id, [a.id for a in outputs]) for run, outputs in page.earlier_runs] == [
        (pipeline.trainers[0], [pipeline.models[0]])
    ]
    other = reader_client.get(reverse("lineage_ui:execution", args=[pipeline.trainers[1]])).context["page"]
    assert other.earlier_runs == []


def test_failed_execution_page(reader_client: Client, pipeline: Pipeline) -> None:
    body = html(reader_client.get(reverse("lineage_ui:execution", args=[pipeline.failed])))
    assert "This execution failed." in body
    assert "state-failed" in body


# ---------------------------------------------------------------------------- types and compare


def test_types_page(reader_client: Client, pipeline: Pipeline) -> None:
    types = reader_client.get(reverse("lineage_ui:types")).context["types"]
    trainer = next(t for t in types["execution"] if t.type.name == "Trainer")
    assert trainer.properties == [("learning_rate", "DOUBLE"), ("train_steps", "INT")]
    assert (trainer.count, trainer.failed) == (3, 1)
    examples = next(t for t in types["artifact"] if t.type.name == "Examples")
    assert examples.type.base_type_label == "DATASET"
    assert [t.type.name for t in types["context"]] == ["Experiment", "PipelineRun"]


def test_compare_two_models(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:compare"), {"a": pipeline.models[0], "b": pipeline.models[1]})
    comparison = response.context["comparison"]
    differing = {r.label for r in comparison.rows if r.differs}
    assert differing == {"uri", "name"}
    assert {r.label for r in comparison.producer_rows if r.differs} == {"learning_rate", "train_steps"}
    assert [(u.artifact.id, u.shared) for u in comparison.upstream] == [(pipeline.dataset, True)]
    assert {c.name for c in comparison.contexts_b} == {"taxi-experiment", "run-2"}
    body = html(response)
    assert body.count('<tr class="diff">') == 4
    assert "marker shared" in body


def test_compare_artifacts_of_different_types(reader_client: Client, pipeline: Pipeline) -> None:
    comparison = reader_client.get(
        reverse("lineage_ui:compare"), {"a": pipeline.dataset, "b": pipeline.models[0]}
    ).context["comparison"]
    only = {r.label: r.only for r in comparison.rows if r.only}
    assert only == {"span": "a", "split": "a", "framework": "b"}
    assert next(r for r in comparison.rows if r.label == "type").differs
    upstream = {u.artifact.id: (u.in_a, u.in_b) for u in comparison.upstream}
    assert upstream == {pipeline.dataset: (False, True)}


def test_compare_pickers(reader_client: Client, pipeline: Pipeline) -> None:
    response = reader_client.get(reverse("lineage_ui:compare"), {"a": str(pipeline.models[0]), "q": "model-"})
    assert response.status_code == 200
    assert {c.id for c in response.context["choices"]} == set(pipeline.models)
    assert f"?a={pipeline.models[0]}&amp;b={pipeline.models[1]}" in html(response)
    missing = reader_client.get(reverse("lineage_ui:compare"), {"a": pipeline.models[0], "b": 999999})
    assert missing.status_code == 404
    assert "no artifact with id 999999" in html(missing)
    bad_query = reader_client.get(reverse("lineage_ui:compare"), {"q": "name = = 'x'"})
    assert bad_query.status_code == 200
    assert "filter_query:" in html(bad_query)


def test_compare_without_a_pair_shows_the_pickers(reader_client: Client, db: None) -> None:
    response = reader_client.get(reverse("lineage_ui:compare"))
    assert response.status_code == 200
    assert response.context["comparison"] is None


def test_unsafe_names_are_escaped_in_pages_and_drawings(reader_client: Client, db: None) -> None:
    types = put_types()
    _, (evil,), contexts = put_execution(
        types["Trainer"],
        '<script>alert("x")</script>',
        outputs=[artifact(types["Model"], 's3://x/"><img src=x>', name='model "quoted" \\ <b>')],
        contexts=[pb.Context(type_id=types["PipelineRun"], name="<i>run</i>")],
    )
    for url in (reverse("lineage_ui:context", args=[contexts[0]]), reverse("lineage_ui:artifact", args=[evil])):
        body = html(reader_client.get(url))
        assert "<script>alert" not in body
        assert "<img src=x>" not in body
        assert "<i>run</i>" not in body
