"""The store on a real MySQL/MariaDB server: schema, strings, connection settings, MySQL-only helpers."""
from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core import checks
from django.db import DataError, OperationalError, connections, transaction

from mlmdsite.env import MYSQL_LOCK_WAIT_SECONDS
from store.models import Artifact, Context, Event, Execution, Type
from store.proto import metadata_store_pb2 as pb
from store.services import counts, lineage
from store.services.errors import AlreadyExists
from store.services.retry import run_with_retry
from store.services.transactions import is_retryable, translate_database_error
from tests.mysql.conftest import MYSQL
from tests.store.mlmd import artifact_type, call, context_type, execution_type, put_artifacts, put_contexts

STORE_STRING_COLUMNS = {
    ("store_type", "name"),
    ("store_context", "name"),
    ("store_context", "external_id"),
    ("store_artifact", "uri"),
    ("store_artifact", "name"),
    ("store_execution", "name"),
    ("store_artifactproperty", "string_value"),
}


def _scalar(sql: str, params: tuple[Any, ...] = ()) -> Any:
    with connections[MYSQL].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# ---------------------------------------------------------------------------- schema and strings


def test_store_strings_use_a_binary_collation_and_new_tables_inherit_it(mysql_db: str) -> None:
    with connections[MYSQL].cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns"
            " WHERE table_schema = DATABASE() AND table_name LIKE 'store\\_%%' AND collation_name IS NOT NULL"
        )
        collations = {(table, column): collation for table, column, collation in cursor.fetchall()}
    assert set(collations) >= STORE_STRING_COLUMNS
    assert {c for c in collations.values() if not c.endswith("_bin")} == set()
    # Tables of later migrations (0003 and on) get it from the database's default.
    assert collations[("store_idempotencykey", "key")].endswith("_bin")
    assert _scalar("SELECT @@collation_database").endswith("_bin")


def test_names_are_case_sensitive_as_in_mlmd(mysql_db: str) -> None:
    upper, lower = artifact_type("Model"), artifact_type("model")
    assert upper != lower
    assert call("GetArtifactType", type_name="model").artifact_type.id == lower
    experiment = context_type("Experiment")
    first, second = put_contexts(pb.Context(type_id=experiment, name="Run-1"), pb.Context(type_id=experiment, name="run-1"))
    assert first != second
    found = call("GetContextByTypeAndName", type_name="Experiment", context_name="run-1").context
    assert found.id == second
    assert list(Context.objects.filter(name="RUN-1")) == []
    assert list(Context.objects.filter(external_id=None, name="Run-1").values_list("id", flat=True)) == [first]


def test_accents_and_trailing_spaces_make_names_differ(mysql_db: str) -> None:
    experiment = context_type("Experiment")
    ids = put_contexts(
        pb.Context(type_id=experiment, name="resume"),
        pb.Context(type_id=experiment, name="résumé"),
        pb.Context(type_id=experiment, name="resume "),
    )
    assert len(set(ids)) == 3
    assert Context.objects.filter(name="resume").count() == 1


def test_a_duplicate_name_is_already_exists(mysql_db: str) -> None:
    experiment = context_type("Experiment")
    put_contexts(pb.Context(type_id=experiment, name="Run-1"))
    with pytest.raises(AlreadyExists, match="a context with this name already exists"):
        put_contexts(pb.Context(type_id=experiment, name="Run-1"))


def test_case_insensitive_lookups_still_ignore_case(mysql_db: str) -> None:
    experiment = context_type("Experiment")
    put_contexts(pb.Context(type_id=experiment, name="Nightly-Training"), pb.Context(type_id=experiment, name="other"))
    assert list(Context.objects.filter(name__icontains="TRAIN").values_list("name", flat=True)) == ["Nightly-Training"]
    assert Context.objects.filter(name__iexact="nightly-training").count() == 1
    assert Context.objects.filter(name__istartswith="NIGHTLY").count() == 1
    assert Context.objects.filter(name__iendswith="TRAINING").count() == 1
    assert Context.objects.filter(name__contains="TRAIN").count() == 0
    assert Context.objects.filter(name__icontains="100%").count() == 0  # wildcards in the value stay literal


def test_four_byte_characters_and_long_values_round_trip(mysql_db: str) -> None:
    dataset = artifact_type("Dataset", note=pb.STRING)
    text = "𝔡𝔞𝔱𝔞 🧪 " + "x" * 70_000
    [artifact_id] = put_artifacts(
        pb.Artifact(
            type_id=dataset,
            name="🧪",
            uri="s3://" + "u" * 5000,
            properties={"note": pb.Value(string_value=text)},
            custom_properties={"struct": pb.Value(struct_value={"nested": {"list": [1, "two", None]}})},
        )
    )
    [got] = call("GetArtifactsByID", artifact_ids=[artifact_id]).artifacts
    assert got.name == "🧪" and got.uri == "s3://" + "u" * 5000
    assert got.properties["note"].string_value == text
    assert dict(got.custom_properties["struct"].struct_value) == {"nested": {"list": [1.0, "two", None]}}


def test_strict_mode_refuses_a_value_that_does_not_fit(mysql_db: str) -> None:
    with pytest.raises(DataError), transaction.atomic(using=MYSQL):
        Type.objects.create(kind=0, name="x" * 256)


def test_binary_values_round_trip(mysql_db: str) -> None:
    trainer = execution_type("Trainer")
    payload = bytes(range(256))
    [execution_id] = call(
        "PutExecutions",
        executions=[pb.Execution(type_id=trainer, custom_properties={"blob": pb.Value(proto_value={"type_url": "t/x", "value": payload})})],
    ).execution_ids
    [got] = call("GetExecutionsByID", execution_ids=[execution_id]).executions
    assert got.custom_properties["blob"].proto_value.value == payload


def test_connection_settings(mysql_db: str) -> None:
    with connections[MYSQL].cursor() as cursor:
        cursor.execute("SELECT @@character_set_connection, @@sql_mode, @@default_storage_engine, @@innodb_lock_wait_timeout")
        charset, sql_mode, engine, lock_wait = cursor.fetchone()
        try:
            cursor.execute("SELECT @@transaction_isolation")
        except OperationalError:  # MariaDB before 11.1 knows only the old name
            cursor.execute("SELECT @@tx_isolation")
        isolation = cursor.fetchone()[0]
    assert charset == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in sql_mode.split(",")
    assert engine == "InnoDB"
    assert isolation == "READ-COMMITTED"
    assert int(lock_wait) == MYSQL_LOCK_WAIT_SECONDS
    tables = _scalar(
        "SELECT GROUP_CONCAT(DISTINCT engine) FROM information_schema.tables WHERE table_schema = DATABASE()"
    )
    assert tables == "InnoDB"


def test_system_checks_pass_including_django_mysql(mysql_db: str) -> None:
    found = checks.run_checks(databases=[MYSQL], tags=[checks.Tags.database])
    assert [f"{m.id}: {m.msg}" for m in found] == []


# ---------------------------------------------------------------------------- lineage


def test_lineage_walk_is_not_cut_at_the_servers_recursion_limit(mysql_db: str) -> None:
    """1,200 steps: 2,400 levels of recursion, past both servers' default limit of 1,000."""
    dataset, trainer = artifact_type("Dataset"), execution_type("Trainer")
    steps = 1200
    artifacts = Artifact.objects.bulk_create([Artifact(type_id=dataset, uri=f"a{i}") for i in range(steps + 1)])
    executions = Execution.objects.bulk_create([Execution(type_id=trainer) for _ in range(steps)])
    if artifacts[0].pk is None:  # no RETURNING on this server: read the ids back
        artifacts = list(Artifact.objects.order_by("id"))
        executions = list(Execution.objects.order_by("id"))
    events = []
    for i, execution in enumerate(executions):
        events.append(Event(artifact_id=artifacts[i].id, execution_id=execution.id, type=pb.Event.INPUT))
        events.append(Event(artifact_id=artifacts[i + 1].id, execution_id=execution.id, type=pb.Event.OUTPUT))
    Event.objects.bulk_create(events)
    walk = lineage.walk([artifacts[-1].id], [], direction=pb.LineageSubgraphQueryOptions.UPSTREAM)
    assert len(walk.artifacts) == steps + 1 and len(walk.executions) == steps


# ---------------------------------------------------------------------------- django-mysql helpers


def test_approx_count_estimates_big_tables_and_counts_the_rest(mysql_db: str) -> None:
    dataset = artifact_type("Dataset")
    Artifact.objects.bulk_create([Artifact(type_id=dataset, uri=f"a{i}") for i in range(3000)])
    small = counts.approx_count(Type.objects.all())
    assert small == 1 and not counts.is_approximate(small)
    _scalar("ANALYZE TABLE store_artifact")
    estimate = counts.approx_count(Artifact.objects.all())
    assert counts.is_approximate(estimate)
    assert 1000 <= estimate <= 6000
    exact = counts.approx_count(Artifact.objects.filter(uri__startswith="a1"))
    assert exact == 1111 and not counts.is_approximate(exact)


def test_iterate_in_chunks_visits_every_row_once_in_order(mysql_db: str) -> None:
    dataset = artifact_type("Dataset")
    Artifact.objects.bulk_create([Artifact(type_id=dataset, uri=f"a{i}") for i in range(1234)])
    seen: list[int] = []
    chunks = 0
    for chunk in counts.iterate_in_chunks(Artifact.objects.filter(type_id=dataset), chunk_size=100, atomically=True):
        chunks += 1
        seen.extend(chunk.values_list("id", flat=True))
    assert seen == sorted(Artifact.objects.values_list("id", flat=True))
    assert chunks >= 2
    assert [a.id for a in counts.iterate(Artifact.objects.all(), chunk_size=50)] == seen


# ---------------------------------------------------------------------------- retries


def _deadlock(attempts: int) -> tuple[list[Any], list[int]]:
    """Two threads lock two rows in opposite orders; returns (errors, runs per thread)."""
    dataset = artifact_type("Dataset")
    first, second = put_artifacts(pb.Artifact(type_id=dataset, uri="a"), pb.Artifact(type_id=dataset, uri="b"))
    barrier = threading.Barrier(2)
    errors: list[Any] = []
    runs = [0, 0]

    def worker(index: int, order: tuple[int, int]) -> None:
        from store.db import using

        def work() -> None:
            runs[index] += 1
            Artifact.objects.filter(id=order[0]).update(uri=f"t{index}")
            if runs[index] == 1:
                barrier.wait(timeout=30)
            Artifact.objects.filter(id=order[1]).update(uri=f"t{index}")

        try:
            with using(MYSQL):
                run_with_retry(work, attempts=attempts)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections[MYSQL].close()

    threads = [threading.Thread(target=worker, args=(0, (first, second))), threading.Thread(target=worker, args=(1, (second, first)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors, runs


def test_a_deadlock_is_retried_transparently(mysql_db: str) -> None:
    errors, runs = _deadlock(attempts=3)
    assert errors == []
    assert sorted(runs) == [1, 2]  # the deadlock victim ran twice


def test_without_retries_a_deadlock_is_aborted(mysql_db: str) -> None:
    errors, runs = _deadlock(attempts=1)
    assert runs == [1, 1]
    assert len(errors) == 1 and is_retryable(errors[0])
    assert errors[0].args[0] == 1213
    assert translate_database_error(errors[0], "PutArtifacts").grpc_code.name == "ABORTED"


def test_a_lock_wait_timeout_is_retryable(mysql_db: str) -> None:
    dataset = artifact_type("Dataset")
    [artifact_id] = put_artifacts(pb.Artifact(type_id=dataset, uri="a"))
    holder = connections.create_connection(MYSQL)
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            cursor.execute("UPDATE store_artifact SET name = 'held' WHERE id = %s", [artifact_id])
        with connections[MYSQL].cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        try:
            with pytest.raises(OperationalError) as caught, transaction.atomic(using=MYSQL):
                Artifact.objects.filter(id=artifact_id).update(name="waiting")
        finally:
            with connections[MYSQL].cursor() as cursor:
                cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {MYSQL_LOCK_WAIT_SECONDS}")
        assert caught.value.args[0] == 1205 and is_retryable(caught.value)
    finally:
        holder.rollback()
        holder.close()
