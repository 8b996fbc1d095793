"""Fewer index entries per write: value indexes hold only the rows that set their column,
and foreign keys that lead a unique index get no index of their own.

A property row sets one of int, double, string and bool, yet each of the four
(name, value, is_custom, node) indexes took an entry for it; a put_execution
with two new nodes of four properties each wrote 32 value-index entries and 41
WAL pages.  On SQLite the four become partial (``WHERE <column> IS NOT NULL``):
a filter's comparison on the column implies the condition, so the planner still
reads them (the filter compiler states it for NOT LIKE).  MySQL/MariaDB have no
partial indexes: there they stay as they are, and nothing is rebuilt.

The foreign keys (property → node, event → artifact and execution, attribution
and association → context, parent context → context) each had a one-column
index that the unique index beside it, or (execution, type) for events, already
covers as its leading column.  Django makes those indexes on SQLite only (on
InnoDB the foreign key's own index serves, and is not Django's to drop), so
they are dropped where they exist under Django's name.

The model state changes in ``state_operations``; the database side is
``forwards``/``backwards`` per vendor.
"""

import django.db.models.deletion
from django.db import migrations, models

# (table, index prefix, node column)
_PROPERTY_TABLES = [
    ("store_artifactproperty", "artprop", "artifact_id"),
    ("store_executionproperty", "exeprop", "execution_id"),
    ("store_contextproperty", "ctxprop", "context_id"),
]
_VALUES = [("string", "string_value"), ("int", "int_value"), ("double", "double_value"), ("bool", "bool_value")]

# (table, column) of the foreign keys whose one-column index goes.
_COVERED_KEYS = [
    ("store_artifactproperty", "artifact_id"),
    ("store_executionproperty", "execution_id"),
    ("store_contextproperty", "context_id"),
    ("store_event", "artifact_id"),
    ("store_event", "execution_id"),
    ("store_attribution", "context_id"),
    ("store_association", "context_id"),
    ("store_parentcontext", "context_id"),
]


def _value_indexes(schema_editor, partial: bool) -> None:  # type: ignore[no-untyped-def]
    for table, prefix, node in _PROPERTY_TABLES:
        for short, column in _VALUES:
            name = f"{prefix}_{short}_cover"
            where = f" WHERE {column} IS NOT NULL" if partial else ""
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
            schema_editor.execute(f"CREATE INDEX {name} ON {table} (name, {column}, is_custom, {node}){where}")


def _key_indexes(schema_editor, create: bool) -> None:  # type: ignore[no-untyped-def]
    with schema_editor.connection.cursor() as cursor:
        for table, column in _COVERED_KEYS:
            # The name Django gave the index when it made the field (0001).
            name = schema_editor._create_index_name(table, [column], suffix="")
            existing = schema_editor.connection.introspection.get_constraints(cursor, table)
            if create and name not in existing:
                schema_editor.execute(f"CREATE INDEX {schema_editor.quote_name(name)} ON {table} ({column})")
            elif not create and name in existing:
                schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "sqlite":
        return
    _value_indexes(schema_editor, partial=True)
    _key_indexes(schema_editor, create=False)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "sqlite":
        return
    _value_indexes(schema_editor, partial=False)
    _key_indexes(schema_editor, create=True)


class Migration(migrations.Migration):

    dependencies = [
        ('store', '0007_covering_property_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name='artifactproperty',
                    name='artprop_int_cover',
                ),
                migrations.RemoveIndex(
                    model_name='artifactproperty',
                    name='artprop_double_cover',
                ),
                migrations.RemoveIndex(
                    model_name='artifactproperty',
                    name='artprop_bool_cover',
                ),
                migrations.RemoveIndex(
                    model_name='contextproperty',
                    name='ctxprop_int_cover',
                ),
                migrations.RemoveIndex(
                    model_name='contextproperty',
                    name='ctxprop_double_cover',
                ),
                migrations.RemoveIndex(
                    model_name='contextproperty',
                    name='ctxprop_bool_cover',
                ),
                migrations.RemoveIndex(
                    model_name='executionproperty',
                    name='exeprop_int_cover',
                ),
                migrations.RemoveIndex(
                    model_name='executionproperty',
                    name='exeprop_double_cover',
                ),
                migrations.RemoveIndex(
                    model_name='executionproperty',
                    name='exeprop_bool_cover',
                ),
                migrations.AlterField(
                    model_name='artifactproperty',
                    name='artifact',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='property_values', to='store.artifact'),
                ),
                migrations.AlterField(
                    model_name='association',
                    name='context',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='associations', to='store.context'),
                ),
                migrations.AlterField(
                    model_name='attribution',
                    name='context',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attributions', to='store.context'),
                ),
                migrations.AlterField(
                    model_name='contextproperty',
                    name='context',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='property_values', to='store.context'),
                ),
                migrations.AlterField(
                    model_name='event',
                    name='artifact',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='store.artifact'),
                ),
                migrations.AlterField(
                    model_name='event',
                    name='execution',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='store.execution'),
                ),
                migrations.AlterField(
                    model_name='executionproperty',
                    name='execution',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='property_values', to='store.execution'),
                ),
                migrations.AlterField(
                    model_name='parentcontext',
                    name='context',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='parent_links', to='store.context'),
                ),
                migrations.AddIndex(
                    model_name='artifactproperty',
                    index=models.Index(condition=models.Q(('int_value__isnull', False)), fields=['name', 'int_value', 'is_custom', 'artifact'], name='artprop_int_cover'),
                ),
                migrations.AddIndex(
                    model_name='artifactproperty',
                    index=models.Index(condition=models.Q(('double_value__isnull', False)), fields=['name', 'double_value', 'is_custom', 'artifact'], name='artprop_double_cover'),
                ),
                migrations.AddIndex(
                    model_name='artifactproperty',
                    index=models.Index(condition=models.Q(('bool_value__isnull', False)), fields=['name', 'bool_value', 'is_custom', 'artifact'], name='artprop_bool_cover'),
                ),
                migrations.AddIndex(
                    model_name='contextproperty',
                    index=models.Index(condition=models.Q(('int_value__isnull', False)), fields=['name', 'int_value', 'is_custom', 'context'], name='ctxprop_int_cover'),
                ),
                migrations.AddIndex(
                    model_name='contextproperty',
                    index=models.Index(condition=models.Q(('double_value__isnull', False)), fields=['name', 'double_value', 'is_custom', 'context'], name='ctxprop_double_cover'),
                ),
                migrations.AddIndex(
                    model_name='contextproperty',
                    index=models.Index(condition=models.Q(('bool_value__isnull', False)), fields=['name', 'bool_value', 'is_custom', 'context'], name='ctxprop_bool_cover'),
                ),
                migrations.AddIndex(
                    model_name='executionproperty',
                    index=models.Index(condition=models.Q(('int_value__isnull', False)), fields=['name', 'int_value', 'is_custom', 'execution'], name='exeprop_int_cover'),
                ),
                migrations.AddIndex(
                    model_name='executionproperty',
                    index=models.Index(condition=models.Q(('double_value__isnull', False)), fields=['name', 'double_value', 'is_custom', 'execution'], name='exeprop_double_cover'),
                ),
                migrations.AddIndex(
                    model_name='executionproperty',
                    index=models.Index(condition=models.Q(('bool_value__isnull', False)), fields=['name', 'bool_value', 'is_custom', 'execution'], name='exeprop_bool_cover'),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
