"""Indexes on TEXT columns the API looks up by: artifact uri and string property values.

MySQL and MariaDB index a TEXT column only through a prefix of it, which Django's
Index cannot express, so the statement is chosen per database vendor.
"""
from __future__ import annotations

from django.db import migrations

# (index name, table, column, MySQL key columns)
_INDEXES = [
    ("artifact_uri", "store_artifact", "uri", "uri(255)"),
    ("artprop_name_string", "store_artifactproperty", "name, string_value", "name, string_value(255)"),
    ("exeprop_name_string", "store_executionproperty", "name, string_value", "name, string_value(255)"),
    ("ctxprop_name_string", "store_contextproperty", "name, string_value", "name, string_value(255)"),
]


def create_indexes(apps, schema_editor):  # type: ignore[no-untyped-def]
    mysql = schema_editor.connection.vendor == "mysql"
    for name, table, columns, mysql_columns in _INDEXES:
        schema_editor.execute(f"CREATE INDEX {name} ON {table} ({mysql_columns if mysql else columns})")


def drop_indexes(apps, schema_editor):  # type: ignore[no-untyped-def]
    mysql = schema_editor.connection.vendor == "mysql"
    for name, table, _columns, _mysql_columns in _INDEXES:
        schema_editor.execute(f"DROP INDEX {name} ON {table}" if mysql else f"DROP INDEX {name}")


class Migration(migrations.Migration):
    dependencies = [("store", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
