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

# (model, index prefix, foreign key to the node) of the property tables
_PROPERTY_MODELS = [
    ("artifactproperty", "artprop", "artifact"),
    ("executionproperty", "exeprop", "execution"),
    ("contextproperty", "ctxprop", "context"),
]
# (index name part, value column); the string one is made per vendor outside the model state (0002, 0007)
_VALUES = [("string", "string_value"), ("int", "int_value"), ("double", "double_value"), ("bool", "bool_value")]
_STATE_VALUES = [value for value in _VALUES if value[0] != "string"]

# (model, foreign key, related_name, target) of the keys whose one-column index goes
_COVERED_KEYS = [
    ("artifactproperty", "artifact", "property_values", "store.artifact"),
    ("executionproperty", "execution", "property_values", "store.execution"),
    ("contextproperty", "context", "property_values", "store.context"),
    ("event", "artifact", "events", "store.artifact"),
    ("event", "execution", "events", "store.execution"),
    ("attribution", "context", "attributions", "store.context"),
    ("association", "context", "associations", "store.context"),
    ("parentcontext", "context", "parent_links", "store.context"),
]


def _value_indexes(schema_editor, partial: bool) -> None:  # type: ignore[no-untyped-def]
    for model, prefix, node in _PROPERTY_MODELS:
        for short, column in _VALUES:
            name = f"{prefix}_{short}_cover"
            where = f" WHERE {column} IS NOT NULL" if partial else ""
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
            schema_editor.execute(
                f"CREATE INDEX {name} ON store_{model} (name, {column}, is_custom, {node}_id){where}"
            )


def _key_indexes(schema_editor, create: bool) -> None:  # type: ignore[no-untyped-def]
    with schema_editor.connection.cursor() as cursor:
        for model, key, _related, _target in _COVERED_KEYS:
            table, column = f"store_{model}", f"{key}_id"
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


def _state_operations() -> list[migrations.operations.base.Operation]:
    """What the models now say: partial value indexes, foreign keys without db_index."""
    return [
        *(
            migrations.RemoveIndex(model_name=model, name=f"{prefix}_{short}_cover")
            for model, prefix, _node in _PROPERTY_MODELS
            for short, _column in _STATE_VALUES
        ),
        *(
            migrations.AlterField(
                model_name=model,
                name=key,
                field=models.ForeignKey(
                    db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name=related, to=target
                ),
            )
            for model, key, related, target in _COVERED_KEYS
        ),
        *(
            migrations.AddIndex(
                model_name=model,
                index=models.Index(
                    condition=models.Q((f"{column}__isnull", False)),
                    fields=["name", column, "is_custom", node],
                    name=f"{prefix}_{short}_cover",
                ),
            )
            for model, prefix, node in _PROPERTY_MODELS
            for short, column in _STATE_VALUES
        ),
    ]


class Migration(migrations.Migration):

    dependencies = [
        ('store', '0007_covering_property_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=_state_operations(),
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
