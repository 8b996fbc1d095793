"""The store's consistency checks (store.validation), without the admin around them."""

from __future__ import annotations

from itertools import pairwise

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from store import validation
from store.choices import PropertyType
from store.models import Context, ParentContext, ParentType, TypeProperty
from tests.base import artifact_type, context_type, execution_type, make_artifact, make_context

pytestmark = pytest.mark.django_db


def _chain(length: int) -> list[int]:
    """Contexts c0 ← c1 ← … (each c[i+1] has parent c[i]); returns their ids."""
    kind = context_type()
    ids = [make_context(kind, f"c{i}").pk for i in range(length)]
    ParentContext.objects.bulk_create(
        ParentContext(context_id=child, parent_id=parent) for parent, child in pairwise(ids)
    )
    return ids


def test_context_cycles_are_found_through_any_number_of_generations() -> None:
    ids = _chain(6)
    assert validation.would_create_context_cycle(ids[0], ids[0])
    assert validation.would_create_context_cycle(ids[0], ids[1])  # direct
    assert validation.would_create_context_cycle(ids[0], ids[5])  # five generations down
    assert validation.would_create_context_cycle(ids[3], ids[4])
    assert not validation.would_create_context_cycle(ids[5], ids[0])  # a second path upwards is fine
    assert not validation.would_create_context_cycle(ids[1], ids[0])  # already so, no cycle


def test_context_cycle_check_costs_one_query_per_generation_not_per_context() -> None:
    kind = context_type()
    root = make_context(kind, "root")
    # Fifty children of root, each with a child of its own: three generations, 101 contexts.
    for i in range(50):
        child = make_context(kind, f"child{i}")
        grandchild = make_context(kind, f"grandchild{i}")
        ParentContext.objects.create(context=child, parent=root)
        ParentContext.objects.create(context=grandchild, parent=child)
    leaf = make_context(kind, "leaf")
    ParentContext.objects.create(context=leaf, parent=grandchild)
    with CaptureQueriesContext(connection) as queries:
        assert not validation.would_create_context_cycle(leaf.pk, root.pk)
    assert len(queries) <= 2
    with CaptureQueriesContext(connection) as queries:
        assert validation.would_create_context_cycle(root.pk, leaf.pk)
    assert len(queries) <= 4


def test_an_existing_cycle_does_not_make_the_check_loop() -> None:
    ids = _chain(3)
    ParentContext.objects.create(context_id=ids[0], parent_id=ids[2])  # written behind the checks' back
    other = make_context(context_type("Other"), "other")
    assert not validation.would_create_context_cycle(other.pk, ids[1])


def test_ignoring_the_link_being_replaced() -> None:
    ids = _chain(2)
    link = ParentContext.objects.get()
    # Turning the link c1→c0 around into c0→c1 is fine once the old one is gone.
    assert validation.would_create_context_cycle(ids[0], ids[1])
    assert not validation.would_create_context_cycle(ids[0], ids[1], ignore_link_id=link.pk)


def test_parent_context_problem_messages() -> None:
    ids = _chain(2)
    c0, c1 = Context.objects.get(pk=ids[0]), Context.objects.get(pk=ids[1])
    assert validation.parent_context_problem(c1, c0) is None
    assert "own parent" in (validation.parent_context_problem(c0, c0) or "")
    assert "would create a cycle" in (validation.parent_context_problem(c0, c1) or "")


def test_parent_type_problems() -> None:
    base, derived, trainer = artifact_type("Base"), artifact_type("Derived"), execution_type("Trainer")
    ParentType.objects.create(type=derived, parent=base)
    assert validation.parent_type_problem(derived, base) is None
    assert "would create a cycle" in (validation.parent_type_problem(base, derived) or "")
    assert "same kind" in (validation.parent_type_problem(base, trainer) or "")
    assert validation.would_create_type_cycle(base.pk, derived.pk)


def test_property_type_change_is_blocked_only_while_values_exist() -> None:
    model = artifact_type("Model", properties={"accuracy": PropertyType.DOUBLE})
    prop = TypeProperty.objects.get(type=model)
    assert validation.property_type_change_blocked(prop, PropertyType.STRING) is None
    make_artifact(model, "m", properties={"accuracy": 0.5})
    message = validation.property_type_change_blocked(prop, PropertyType.STRING)
    assert message and "from DOUBLE to STRING" in message and "1 artifact hold" in message
    assert validation.property_type_change_blocked(prop, PropertyType.DOUBLE) is None  # no change
    # The stored declaration counts, even when the caller already assigned the new type.
    prop.data_type = PropertyType.STRING
    assert validation.property_type_change_blocked(prop, PropertyType.STRING) is not None


def test_custom_values_of_the_same_name_do_not_block_a_type_change() -> None:
    model = artifact_type("Model", properties={"accuracy": PropertyType.DOUBLE})
    make_artifact(model, "m", custom_properties={"accuracy": "high"})
    other = artifact_type("Other", properties={"accuracy": PropertyType.DOUBLE})
    make_artifact(other, "o", properties={"accuracy": 0.1})
    prop = TypeProperty.objects.get(type=model)
    assert validation.property_type_change_blocked(prop, PropertyType.STRING) is None
    assert validation.property_removal_blocked(prop) is None


def test_type_deletion_is_blocked_while_instances_exist() -> None:
    dataset = artifact_type()
    assert validation.type_deletion_blocked(dataset) is None
    make_artifact(dataset, "a")
    make_artifact(dataset, "b")
    assert "still has 2 artifacts" in (validation.type_deletion_blocked(dataset) or "")


def test_property_value_rules() -> None:
    dataset = artifact_type(properties={"split": PropertyType.STRING, "cfg": PropertyType.STRUCT})
    check = validation.property_value_problem
    assert check(dataset.pk, "split", False, {"string_value": "train"}) is None
    assert check(dataset.pk, "cfg", False, {"struct_value": {"a": 1}}) is None
    assert check(dataset.pk, "anything", True, {"int_value": 1}) is None
    assert "shadows" in (check(dataset.pk, "split", True, {"string_value": "x"}) or "")
    assert "not declared" in (check(dataset.pk, "rows", False, {"int_value": 1}) or "")
    assert "goes in string_value" in (check(dataset.pk, "split", False, {"int_value": 1}) or "")
    assert "no value" in (check(dataset.pk, "split", False, {}) or "")
    assert "exactly one" in (check(dataset.pk, "x", True, {"int_value": 1, "bool_value": False}) or "")
    assert "JSON object" in (check(dataset.pk, "cfg", False, {"struct_value": [1]}) or "")
    # A proto value is set by its type URL even when its bytes are empty.
    assert check(dataset.pk, "p", True, {"proto_type_url": "type.googleapis.com/x", "proto_value": None}) is None


def test_custom_property_shadows_declared() -> None:
    dataset = artifact_type(properties={"split": PropertyType.STRING})
    assert validation.custom_property_shadows_declared(dataset.pk, "split")
    assert validation.custom_property_shadows_declared(dataset.pk, "rows") is None


def test_declaring_a_property_held_as_custom_is_blocked() -> None:
    dataset = artifact_type()
    assert validation.declaration_shadows_custom(dataset, "rows") is None
    make_artifact(dataset, "a", custom_properties={"rows": 1})
    assert "1 artifact hold a custom property" in (validation.declaration_shadows_custom(dataset, "rows") or "")
