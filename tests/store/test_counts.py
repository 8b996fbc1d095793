"""Counting and chunked walks (store.services.counts) on whatever DATABASE_URL names."""
from __future__ import annotations

import pytest

from store.models import Artifact, Type
from store.services import counts
from tests.base import artifact_type


@pytest.mark.django_db
def test_approx_count_is_exact_for_small_and_filtered_querysets() -> None:
    dataset = artifact_type()
    Artifact.objects.bulk_create([Artifact(type=dataset, uri=f"a{i}") for i in range(25)])
    total = counts.approx_count(Artifact.objects.all())
    assert total == 25 and not counts.is_approximate(total)
    assert counts.approx_count(Artifact.objects.filter(uri__startswith="a1")) == 11
    assert counts.approx_count(Type.objects.none()) == 0


def test_an_approximate_count_is_an_int_that_says_so() -> None:
    estimate = counts.ApproximateCount(1200)
    assert estimate == 1200 and f"{estimate:,}" == "1,200" and counts.is_approximate(estimate)
    assert not counts.is_approximate(1200)


@pytest.mark.django_db
@pytest.mark.parametrize("chunk_size", [1, 7, 100, 500])
def test_iterate_in_chunks_visits_every_row_once_in_key_order(chunk_size: int) -> None:
    dataset = artifact_type()
    Artifact.objects.bulk_create([Artifact(type=dataset, uri=f"a{i}") for i in range(100)])
    Artifact.objects.filter(uri__in=["a3", "a50", "a51"]).delete()  # gaps in the keys
    expected = list(Artifact.objects.order_by("id").values_list("id", flat=True))
    chunks = [list(chunk.values_list("id", flat=True)) for chunk in counts.iterate_in_chunks(Artifact.objects.all(), chunk_size=chunk_size)]
    assert [i for chunk in chunks for i in chunk] == expected
    if counts._is_mysql(Artifact.objects.all()):
        return  # chunk sizes adapt to the server's speed there
    assert all(len(chunk) == chunk_size for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= chunk_size


@pytest.mark.django_db
def test_iterate_in_chunks_of_nothing_and_of_a_filter() -> None:
    assert [list(chunk) for chunk in counts.iterate_in_chunks(Artifact.objects.all())] in ([], [[]])
    dataset = artifact_type()
    Artifact.objects.bulk_create([Artifact(type=dataset, uri=f"a{i}") for i in range(30)])
    wanted = Artifact.objects.filter(uri__endswith="7")
    rows = list(counts.iterate(wanted, chunk_size=2))
    assert [a.uri for a in rows] == ["a7", "a17", "a27"]


@pytest.mark.django_db
def test_rows_added_during_the_walk_are_not_visited() -> None:
    dataset = artifact_type()
    Artifact.objects.bulk_create([Artifact(type=dataset, uri=f"a{i}") for i in range(10)])
    seen = []
    for chunk in counts.iterate_in_chunks(Artifact.objects.all(), chunk_size=3):
        seen.extend(chunk.values_list("uri", flat=True))
        Artifact.objects.create(type=dataset, uri="late")
    assert "late" not in seen and len(seen) == 10


def test_iterate_in_chunks_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError):
        list(counts.iterate_in_chunks(Artifact.objects.all(), chunk_size=0))
