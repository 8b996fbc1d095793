"""Paging through a filtered list gives exactly the nodes of the unpaged filter, in order.

Pages after the first evaluate property tests only beyond the page boundary
(``filter_nodes(..., id_bound=...)``); that must not change which nodes a
filter selects, negated and or-ed tests included, in either direction.
"""
from __future__ import annotations

from typing import Any

import pytest

from store.proto import metadata_store_pb2 as pb
from tests.store.mlmd import artifact_type, call, context_type, put_artifacts, put_contexts

pytestmark = pytest.mark.django_db

QUERIES = [
    "properties.size.int_value > 20",
    "NOT(properties.size.int_value > 20)",
    "properties.split.string_value = 'train' AND properties.size.int_value >= 10",
    "properties.split.string_value = 'eval' OR NOT(properties.size.int_value < 30)",
    "NOT(properties.split.string_value = 'train') AND uri LIKE 's3://%'",
    "contexts_c.name = 'even' AND properties.size.int_value > 5",
    "NOT(contexts_c.name = 'even') OR properties.split.string_value = 'eval'",
]


@pytest.fixture
def artifacts() -> list[int]:
    type_id = artifact_type("Data", size=pb.INT, split=pb.STRING)
    nodes = []
    for i in range(47):
        node = pb.Artifact(type_id=type_id, uri=f"s3://{i}" if i % 5 else f"gs://{i}")
        node.properties["size"].int_value = (i * 7) % 41
        if i % 4:
            node.properties["split"].string_value = "train" if i % 3 else "eval"
        nodes.append(node)
    ids = put_artifacts(*nodes)
    run = context_type("Run")
    [even] = put_contexts(pb.Context(type_id=run, name="even"))
    call(
        "PutAttributionsAndAssociations",
        attributions=[{"context_id": even, "artifact_id": a} for a in ids[::2]],
    )
    return ids


def _pages(query: str, ascending: bool, size: int) -> list[int]:
    found: list[int] = []
    token = ""
    while True:
        options: dict[str, Any] = {
            "filter_query": query,
            "max_result_size": size,
            "order_by_field": {"field": pb.ListOperationOptions.OrderByField.ID, "is_asc": ascending},
        }
        if token:
            options["next_page_token"] = token
        response = call("GetArtifacts", options=options)
        found.extend(a.id for a in response.artifacts)
        token = response.next_page_token
        if not token:
            return found


@pytest.mark.parametrize("query", QUERIES)
def test_pages_of_a_filter_are_the_unpaged_filter(artifacts: list[int], query: str) -> None:
    everything = [a.id for a in call("GetArtifacts", options={"filter_query": query, "max_result_size": 1000}).artifacts]
    assert 0 < len(everything) < len(artifacts), "the query should select some nodes, not all"
    for size in (1, 4, 10):
        assert _pages(query, True, size) == everything
        assert _pages(query, False, size) == everything[::-1]
