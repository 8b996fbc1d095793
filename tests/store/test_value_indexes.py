"""The property-value and foreign-key indexes of migration 0008, on SQLite.

A property row sets one value column, so each (name, value, is_custom, node)
index holds only the rows that set its column (a partial index), and the
foreign keys that lead a unique index have no index of their own.  What must
hold: every filter test on a property value still reads its column's index
(no scan of the property table), and the migration goes back and forth on a
store with data without losing a row or an index.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store.models import Artifact
from store.services.filter_query import filter_nodes
from tests.reliability.conftest import sqlite_only
from tests.reliability.procs_web import manage, site_environment

VALUE_COLUMNS = {"int": "int_value", "double": "double_value", "string": "string_value", "bool": "bool_value"}
PROPERTY_TABLES = {"artprop": "store_artifactproperty", "exeprop": "store_executionproperty", "ctxprop": "store_contextproperty"}
# Django's names for the one-column indexes 0001 made and 0008 drops.
KEY_INDEXES = [
    "store_artifactproperty_artifact_id_87c9741a",
    "store_executionproperty_execution_id_89e06eca",
    "store_contextproperty_context_id_ab7b6afa",
    "store_event_artifact_id_9cf748bd",
    "store_event_execution_id_bf300d7e",
    "store_attribution_context_id_0ecf5187",
    "store_association_context_id_8683e039",
    "store_parentcontext_context_id_cfab2abb",
]

# (filter, the value index it must read)
FILTERS = [
    ("properties.size.int_value = 3", "int"),
    ("properties.size.int_value > 3", "int"),
    ("properties.size.int_value != 3", "int"),
    ("properties.size.int_value IN (1, 2)", "int"),
    ("properties.size.int_value NOT IN (1, 2)", "int"),
    ("NOT(properties.size.int_value <= 3)", "int"),
    ("properties.size.int_value IS NULL", "int"),
    ("properties.score.double_value < 0.5", "double"),
    ("properties.split.string_value = 'train'", "string"),
    ("properties.split.string_value LIKE 'tr%'", "string"),
    ("properties.split.string_value NOT LIKE 'tr%'", "string"),
    ("custom_properties.owner.string_value IS NOT NULL", "string"),
    ("custom_properties.ok.bool_value = true", "bool"),
]


@sqlite_only
@pytest.mark.django_db
@pytest.mark.parametrize(("query", "column"), FILTERS, ids=[q for q, _ in FILTERS])
def test_a_filter_on_a_property_value_reads_that_columns_index(query: str, column: str) -> None:
    plan = filter_nodes(Artifact.objects.all(), "artifact", query).explain()
    assert f"artprop_{column}_cover" in plan, plan
    assert "SCAN store_artifactproperty" not in plan, plan


def _indexes(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as con:
        return {name: sql or "" for name, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")}


def _check_0008(indexes: dict[str, str]) -> None:
    for prefix in PROPERTY_TABLES:
        for short, column in VALUE_COLUMNS.items():
            assert indexes[f"{prefix}_{short}_cover"].endswith(f"WHERE {column} IS NOT NULL"), prefix
    assert not set(KEY_INDEXES) & set(indexes)


def _check_0007(indexes: dict[str, str]) -> None:
    for prefix in PROPERTY_TABLES:
        for short in VALUE_COLUMNS:
            assert "WHERE" not in indexes[f"{prefix}_{short}_cover"], prefix
    assert set(KEY_INDEXES) <= set(indexes)


@sqlite_only
def test_migration_0008_goes_both_ways_on_a_store_with_data(tmp_path: Path) -> None:
    database = tmp_path / "store.sqlite3"
    env = site_environment(database)
    manage(env, "migrate", "--no-input", "store", "0007")
    _check_0007(_indexes(database))
    with sqlite3.connect(database) as con:
        con.execute("INSERT INTO store_type (id, kind, name, version, base_type) VALUES (1, 0, 'Data', '', 0)")
        for i in range(1, 51):
            con.execute(
                "INSERT INTO store_artifact (id, type_id, create_time_since_epoch, last_update_time_since_epoch) "
                "VALUES (?, 1, 0, 0)", (i,),
            )
            con.execute(
                "INSERT INTO store_artifactproperty (artifact_id, name, is_custom, int_value) VALUES (?, 'size', 0, ?)",
                (i, i),
            )
            con.execute(
                "INSERT INTO store_artifactproperty (artifact_id, name, is_custom, string_value) "
                "VALUES (?, 'split', 0, ?)", (i, "train" if i % 2 else "eval"),
            )

    manage(env, "migrate", "--no-input", "store", "0008")
    _check_0008(_indexes(database))
    manage(env, "migrate", "--no-input", "store", "0007")
    _check_0007(_indexes(database))
    manage(env, "migrate", "--no-input")
    _check_0008(_indexes(database))

    with sqlite3.connect(database) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        by_index = con.execute(
            "SELECT count(*) FROM store_artifactproperty INDEXED BY artprop_int_cover "
            "WHERE name = 'size' AND int_value > 25"
        ).fetchone()[0]
        train = con.execute(
            "SELECT count(*) FROM store_artifactproperty INDEXED BY artprop_string_cover "
            "WHERE name = 'split' AND string_value = 'train'"
        ).fetchone()[0]
    assert (by_index, train) == (25, 25)
