"""The transparent retry of a request's transaction (store.services.retry), without a real conflict.

Real deadlocks and lock-wait timeouts are provoked on a MySQL server in
tests/mysql/test_backend.py.  These tests need a transaction that nobody else
opened, hence ``transactional_db``.
"""
from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction

from store.services import retry
from store.services.retry import run_with_retry


class Flaky:
    """Fails with the given errors, one per run, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.runs = 0
        self.in_transaction: list[bool] = []

    def __call__(self) -> str:
        self.runs += 1
        self.in_transaction.append(connection.in_atomic_block)
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def pauses() -> list[float]:
    """The pauses between attempts (recorded instead of slept)."""
    return []


def _run(fn: Any, pauses: list[float], **kwargs: Any) -> Any:
    return run_with_retry(fn, sleep=pauses.append, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_a_busy_database_is_retried_in_a_new_transaction_each_time(pauses: list[float]) -> None:
    flaky = Flaky(OperationalError("database is locked"), OperationalError(1213, "Deadlock found when trying to get lock"))
    assert _run(flaky, pauses) == "done"
    assert flaky.runs == 3 and flaky.in_transaction == [True, True, True]
    assert len(pauses) == 2 and all(0 <= p <= retry.MAX_DELAY_SECONDS for p in pauses)
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_after_the_last_attempt_the_error_is_raised(pauses: list[float]) -> None:
    flaky = Flaky(*[OperationalError(1205, "Lock wait timeout exceeded")] * 3)
    with pytest.raises(OperationalError, match="Lock wait timeout"):
        _run(flaky, pauses, attempts=3)
    assert flaky.runs == 3 and len(pauses) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "error",
    [OperationalError(1054, "Unknown column"), IntegrityError(1452, "foreign key constraint fails"), ValueError("bug")],
)
def test_other_errors_are_not_retried(error: Exception, pauses: list[float]) -> None:
    flaky = Flaky(error)
    with pytest.raises(type(error)):
        _run(flaky, pauses)
    assert flaky.runs == 1 and pauses == []


@pytest.mark.django_db(transaction=True)
def test_a_unique_violation_is_run_again_once_on_mysql_only(pauses: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    duplicate = IntegrityError(1062, "Duplicate entry 'x' for key 'context_unique_type_name'")
    monkeypatch.setattr(retry, "writers_can_race", lambda connection: True)
    flaky = Flaky(duplicate)
    assert _run(flaky, pauses) == "done" and flaky.runs == 2
    twice = Flaky(duplicate, duplicate)
    with pytest.raises(IntegrityError):
        _run(twice, pauses)
    assert twice.runs == 2
    monkeypatch.setattr(retry, "writers_can_race", lambda connection: False)
    once = Flaky(IntegrityError("UNIQUE constraint failed: store_context.type_id, store_context.name"))
    with pytest.raises(IntegrityError):
        _run(once, pauses)
    assert once.runs == 1


@pytest.mark.django_db(transaction=True)
def test_a_lost_connection_is_retried_only_before_the_commit(pauses: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    lost = OperationalError(2013, "Lost connection to server during query")
    flaky = Flaky(lost)
    assert _run(flaky, pauses) == "done" and flaky.runs == 2

    # The work was done and the commit failed: it may have been committed, so no second run.
    runs = []

    def failing_commit() -> None:
        raise lost

    def work() -> str:
        runs.append(1)
        transaction.on_commit(lambda: None)
        monkeypatch.setattr(connection, "commit", failing_commit)
        return "done"

    with pytest.raises(OperationalError, match="Lost connection"):
        _run(work, pauses)
    assert runs == [1]


@pytest.mark.django_db
def test_inside_someone_elses_transaction_nothing_is_retried(pauses: list[float]) -> None:
    flaky = Flaky(OperationalError("database is locked"))
    with pytest.raises(OperationalError):
        _run(flaky, pauses)
    assert flaky.runs == 1


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError):
        run_with_retry(lambda: None, attempts=0)


def test_pauses_grow_and_are_capped() -> None:
    for attempt in range(1, 12):
        assert 0 <= retry.backoff_delay(attempt) <= min(retry.MAX_DELAY_SECONDS, retry.BASE_DELAY_SECONDS * 2 ** (attempt - 1))


@pytest.mark.django_db(transaction=True)
def test_a_store_error_made_of_a_transient_database_error_is_retried(pauses: list[float]) -> None:
    from store.services.errors import Aborted, InvalidArgument

    def aborted() -> Aborted:
        try:
            raise OperationalError("database is locked")
        except OperationalError as exc:
            try:
                raise Aborted("busy") from exc
            except Aborted as store_error:
                return store_error

    flaky = Flaky(aborted(), aborted())
    assert _run(flaky, pauses) == "done" and flaky.runs == 3
    plain = Flaky(InvalidArgument("bad request"))
    with pytest.raises(InvalidArgument):
        _run(plain, pauses)
    assert plain.runs == 1
    always = Flaky(aborted(), aborted(), aborted())
    with pytest.raises(Aborted):
        _run(always, pauses)
    assert always.runs == 3


@pytest.mark.django_db(transaction=True)
def test_an_autocommit_run_is_retried_outside_any_transaction(pauses: list[float]) -> None:
    flaky = Flaky(OperationalError(1213, "Deadlock found when trying to get lock"))
    assert _run(flaky, pauses, transactional=False) == "done"
    assert flaky.runs == 2 and flaky.in_transaction == [False, False] and len(pauses) == 1


@pytest.mark.django_db(transaction=True)
def test_a_read_runs_in_a_transaction_only_where_it_gives_one_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    """On MySQL/MariaDB at READ COMMITTED a read's statements each see the latest commits anyway: autocommit.

    On SQLite the transaction holds one snapshot for all of a read's statements; writes always get one.
    """
    from store.db import using
    from store.proto import metadata_store_service_pb2 as svc
    from store.services import api

    seen: dict[str, bool] = {}
    read, writes = api._HANDLERS["GetArtifactTypes"]
    write, _ = api._HANDLERS["PutArtifactType"]

    def spy(name: str, handler: Any) -> Any:
        def run(request: Any) -> Any:
            seen[name] = connection.in_atomic_block
            return handler(request)

        return run

    monkeypatch.setitem(api._HANDLERS, "GetArtifactTypes", (spy("read", read), writes))
    monkeypatch.setitem(api._HANDLERS, "PutArtifactType", (spy("write", write), True))
    with using("default"):
        api.call("PutArtifactType", svc.PutArtifactTypeRequest(artifact_type={"name": "Spied"}))
        assert [t.name for t in api.call("GetArtifactTypes", svc.GetArtifactTypesRequest()).artifact_types] == ["Spied"]
    assert seen["write"] is True
    assert seen["read"] is (connection.vendor == "sqlite")
    assert not connection.in_atomic_block and connection.get_autocommit()
