"""Paging through a filtered list gives exactly the nodes of the unpaged filter, in order.

Pages after the first evaluate property tests only beyond the page boundary
(``filter_nodes(..., id_bound=...)``); that must not change which nodes a
filter selects, negated and or-ed tests included, in either direction.  A
filtered list of all the nodes runs a statement compiled once per filter, order
and page size (``listing._filtered_statement``): its pages are compared with
the filter's ORM query.
"""
from __future__ import annotations

from typing import Any

import pytest

from store.models import Artifact
from store.proto import metadata_store_pb2 as pb
from store.services import listing
from store.services.filter_query import filter_nodes
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


def _pages(query: str, ascending: bool, size: int, field: int = pb.ListOperationOptions.OrderByField.ID) -> list[int]:
    found: list[int] = []
    token = ""
    while True:
        options: dict[str, Any] = {
            "filter_query": query,
            "max_result_size": size,
            "order_by_field": {"field": field, "is_asc": ascending},
        }
        if token:
            options["next_page_token"] = token
        response = call("GetArtifacts", options=options)
        found.extend(a.id for a in response.artifacts)
        token = response.next_page_token
        if not token:
            return found


def _matching(query: str) -> list[int]:
    """The filter's nodes by id, from its ORM query (not the cached statements)."""
    return list(filter_nodes(Artifact.objects.all(), "artifact", query).order_by("id").values_list("id", flat=True))


@pytest.mark.parametrize("query", QUERIES)
def test_pages_of_a_filter_are_the_unpaged_filter(artifacts: list[int], query: str) -> None:
    everything = _matching(query)
    assert 0 < len(everything) < len(artifacts), "the query should select some nodes, not all"
    unpaged = call("GetArtifacts", options={"filter_query": query, "max_result_size": 1000}).artifacts
    assert [a.id for a in unpaged] == everything
    for size in (1, 4, 10):
        assert _pages(query, True, size) == everything
        assert _pages(query, False, size) == everything[::-1]


def test_pages_ordered_by_time_carry_the_time_into_the_next_page(artifacts: list[int]) -> None:
    query = QUERIES[2]
    # Give a few nodes one creation time: the next page starts after a (time, id) pair.
    Artifact.objects.filter(id__in=artifacts[5:25]).update(create_time_since_epoch=1_000)
    by_time = sorted(
        Artifact.objects.filter(id__in=_matching(query)).values_list("create_time_since_epoch", "id")
    )
    create_time = pb.ListOperationOptions.OrderByField.CREATE_TIME
    for size in (1, 3):
        assert _pages(query, True, size, create_time) == [i for _, i in by_time]
        assert _pages(query, False, size, create_time) == [i for _, i in reversed(by_time)]


def test_a_filter_is_compiled_once_for_all_its_pages(artifacts: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args[2])
        return filter_nodes(*args, **kwargs)

    monkeypatch.setattr(listing, "filter_nodes", counting)
    listing._filtered_statement.cache_clear()
    query = "properties.size.int_value >= 3"
    assert len(_matching(query)) > 20 and _pages(query, True, 2) == _matching(query)
    # Two compiles for the first page's statement and two for the others' (the position's two stand-ins).
    assert compiled == [query] * 4
    assert _pages(query, True, 2) == _matching(query)
    assert len(compiled) == 4


def test_a_filter_literal_equal_to_a_stand_in_is_kept(artifacts: list[int]) -> None:
    stand_in = listing._STAND_INS[0][1]
    query = f"id != {stand_in} AND properties.size.int_value > 20"
    assert _pages(query, True, 3) == _matching(query)
    assert _pages(query, False, 3) == _matching(query)[::-1]
