"""Indexes on TEXT columns the API looks up by: artifact uri and string property values.

MySQL and MariaDB index a TEXT column only through a prefix of it, which Django's
Index cannot express, so the statement is chosen per database vendor.

On MySQL/MariaDB this migration also makes the store's strings case-sensitive.
MLMD names are exact strings: the types "Model" and "model" are two types, and
a context named "Run-1" must not be found as "run-1".  A server's default
collation (utf8mb4_general_ci, utf8mb4_0900_ai_ci) ignores case, and accents,
in comparisons and in unique keys, so the store's tables are converted to a
binary collation, and the database's default is set to it so that the tables
of later migrations are created with it too.  The collation chosen compares
trailing spaces too ("NO PAD", as SQLite does) where the server has one.
Django's case-insensitive lookups (``icontains``, the admin's search) keep
ignoring case through the store's MySQL backend (``store.backends.mysql``).
SQLite compares strings byte for byte already; nothing is done there.
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

# Binary utf8mb4 collations, best first: MySQL 8's and MariaDB's NO PAD ones, then the PAD SPACE one every server has.
_BINARY_COLLATIONS = ("utf8mb4_0900_bin", "utf8mb4_nopad_bin", "utf8mb4_bin")


def binary_collation(connection) -> str:  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collation_name FROM information_schema.collations WHERE collation_name IN (%s, %s, %s)",
            _BINARY_COLLATIONS,
        )
        available = {row[0] for row in cursor.fetchall()}
    return next(c for c in _BINARY_COLLATIONS if c in available or c == "utf8mb4_bin")


def make_case_sensitive(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    quote = schema_editor.quote_name
    collation = binary_collation(connection)
    schema_editor.execute(
        f"ALTER DATABASE {quote(connection.settings_dict['NAME'])} CHARACTER SET utf8mb4 COLLATE {collation}"
    )
    tables = sorted(
        {m._meta.db_table for m in apps.get_app_config("store").get_models() if not m._meta.proxy and m._meta.managed}
    )
    for table in tables:
        schema_editor.execute(f"ALTER TABLE {quote(table)} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}")


def create_indexes(apps, schema_editor):  # type: ignore[no-untyped-def]
    mysql = schema_editor.connection.vendor == "mysql"
    if mysql:
        make_case_sensitive(apps, schema_editor)
    for name, table, columns, mysql_columns in _INDEXES:
        schema_editor.execute(f"CREATE INDEX {name} ON {table} ({mysql_columns if mysql else columns})")


def drop_indexes(apps, schema_editor):  # type: ignore[no-untyped-def]
    # The collation stays binary: case-sensitive names may already be stored.
    mysql = schema_editor.connection.vendor == "mysql"
    for name, table, _columns, _mysql_columns in _INDEXES:
        schema_editor.execute(f"DROP INDEX {name} ON {table}" if mysql else f"DROP INDEX {name}")


class Migration(migrations.Migration):
    dependencies = [("store", "0001_initial")]

    # Not atomic: MySQL cannot roll DDL back, and Django refuses DDL inside a transaction there.
    operations = [migrations.RunPython(create_indexes, drop_indexes, atomic=False)]
