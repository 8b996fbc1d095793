"""Stale connections (issue #10, item 10): a database that drops idle connections.

A throwaway MariaDB of this module's own (not the shared test server) closes
connections idle for more than ``WAIT_TIMEOUT`` seconds (``scripts/mariadb.sh
--wait-timeout``).  After an idle spell longer than that, the next call
succeeds, on a new connection:

- the core called in-process on a Django alias (``store.db.using``): the dead
  connection fails the transaction's first statement and ``run_with_retry``
  runs it again on a new connection (connection lost before any work);
- ``MetadataStore`` with an MLMD ``mysql`` ConnectionConfig: it checks its
  connection before each call, as Django does around a web request;
- a real ``grpcserver`` on that database, called from several threads at once
  before and after the idle spell (each server thread has its own connection).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections

from mlmdsite.env import database_from_url
from store import metadata_store
from store.db import using
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api
from tests.grpc.servers import start_server
from tests.mysql.conftest import throwaway_mariadb
from tests.reliability import conftest as reliability

ROOT = Path(__file__).resolve().parents[2]
WAIT_TIMEOUT = 2  # seconds: the server closes connections idle for longer
IDLE = WAIT_TIMEOUT + 1.5
ALIAS = "stale_tests"
THREADS = 6

pytestmark = pytest.mark.slow
figure = reliability.figure  # the reliability tests' figure fixture: each test prints its figure



@pytest.fixture(scope="module")
def short_timeout_url(tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any) -> Iterator[str]:
    """A migrated database on a MariaDB whose wait_timeout is WAIT_TIMEOUT; registered as ALIAS."""
    datadir = tmp_path_factory.mktemp("mariadb-stale")
    url = throwaway_mariadb("start", datadir, "--wait-timeout", str(WAIT_TIMEOUT)).splitlines()[-1]
    try:
        with django_db_blocker.unblock():
            complete = connections.configure_settings(
                {DEFAULT_DB_ALIAS: {"ENGINE": "django.db.backends.dummy"}, ALIAS: database_from_url(url)}
            )
            connections.settings[ALIAS] = complete[ALIAS]
            try:
                with connections[ALIAS].cursor() as cursor:
                    cursor.execute("SELECT @@GLOBAL.wait_timeout")
                    assert cursor.fetchone()[0] == WAIT_TIMEOUT
                with using(ALIAS):
                    call_command("migrate", database=ALIAS, interactive=False, verbosity=0)
                yield url
            finally:
                connections[ALIAS].close()
                connections.settings.pop(ALIAS, None)
    finally:
        throwaway_mariadb("stop", datadir)


def _connection_id(alias: str = ALIAS) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return int(cursor.fetchone()[0])


def _aborted_clients(url: str) -> int:
    """Connections the server dropped without the client closing them (wait_timeout counts here)."""
    import MySQLdb

    parts = urlsplit(url)
    db = MySQLdb.connect(host=parts.hostname, port=parts.port, user=parts.username, password=parts.password)
    try:
        cursor = db.cursor()
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Aborted_clients'")
        return int(cursor.fetchone()[1])
    finally:
        db.close()


def _put_run(name: str) -> int:
    type_id = api.call(
        "PutExecutionType", svc.PutExecutionTypeRequest(execution_type=pb.ExecutionType(name="Trainer"))
    ).type_id
    request = svc.PutExecutionRequest(execution=pb.Execution(type_id=type_id, name=name))
    return api.call("PutExecution", request).execution_id


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_core_call_after_idle_spell_succeeds(
    short_timeout_url: str, django_db_blocker: Any, figure: Callable[[str], None]
) -> None:
    retry_log = logging.getLogger("store.retry")
    handler, level = _Messages(), retry_log.level
    with django_db_blocker.unblock(), using(ALIAS):
        _put_run("before-idle")
        before = _connection_id()
        time.sleep(IDLE)
        retry_log.addHandler(handler)
        retry_log.setLevel(logging.INFO)
        try:
            started = time.monotonic()
            execution_id = _put_run("after-idle")
            elapsed = time.monotonic() - started
        finally:
            retry_log.removeHandler(handler)
            retry_log.setLevel(level)
        after = _connection_id()
        assert after != before, "the call after the idle spell did not need a new connection: the test proves nothing"
        stored = api.call("GetExecutionsByID", svc.GetExecutionsByIDRequest(execution_ids=[execution_id])).executions
        assert [e.name for e in stored] == ["after-idle"]
    retried = handler.messages  # the retry's log lines: the dead connection was met, and replaced
    assert retried and all("2006" in m or "2013" in m for m in retried), retried
    figure(f"wait_timeout {WAIT_TIMEOUT} s, idle {IDLE} s: the next core call succeeded in {elapsed * 1000:.0f} ms "
           f"on a new connection (#{before} -> #{after}), after {len(retried)} retry on a lost connection")


def test_metadata_store_call_after_idle_spell_succeeds(
    short_timeout_url: str, django_db_blocker: Any, figure: Callable[[str], None]
) -> None:
    url = urlsplit(short_timeout_url)
    config = pb.ConnectionConfig()
    config.mysql.host, config.mysql.port = url.hostname or "127.0.0.1", url.port or 3306
    config.mysql.user, config.mysql.password = url.username or "", url.password or ""
    config.mysql.database = url.path.lstrip("/")
    config.mysql.skip_db_creation = True
    with django_db_blocker.unblock():
        store = metadata_store.MetadataStore(config)
        try:
            type_id = store.put_artifact_type(pb.ArtifactType(name="DataSet"))
            store.put_artifacts([pb.Artifact(type_id=type_id, uri="s3://before")])
            before = _connection_id(store.database_alias)
            time.sleep(IDLE)
            started = time.monotonic()
            [after_id] = store.put_artifacts([pb.Artifact(type_id=type_id, uri="s3://after")])
            elapsed = time.monotonic() - started
            after = _connection_id(store.database_alias)
            assert after != before, "the call after the idle spell did not need a new connection: the test proves nothing"
            assert [a.uri for a in store.get_artifacts_by_id([after_id])] == ["s3://after"]
        finally:
            store.close()
    figure(f"MetadataStore(mysql config), idle {IDLE} s past wait_timeout {WAIT_TIMEOUT} s: "
           f"next put_artifacts succeeded in {elapsed * 1000:.0f} ms on a new connection (#{before} -> #{after})")


def test_grpc_server_calls_after_idle_spell_succeed(
    short_timeout_url: str, tmp_path: Path, figure: Callable[[str], None]
) -> None:
    server = start_server(tmp_path, "--workers", str(THREADS), env={"DATABASE_URL": short_timeout_url})
    try:
        stub = server.stub()
        type_id = stub.PutContextType(
            svc.PutContextTypeRequest(context_type=pb.ContextType(name="Pipeline")), timeout=30
        ).type_id
        barrier = threading.Barrier(THREADS)
        failures: list[str] = []
        ids: list[int] = []
        lock = threading.Lock()

        def call(round_name: str, number: int) -> None:
            barrier.wait(30)  # all at once, so that several server threads (and connections) serve them
            request = svc.PutContextsRequest(contexts=[pb.Context(type_id=type_id, name=f"{round_name}-{number}")])
            try:
                response = stub.PutContexts(request, timeout=30)
            except grpc.RpcError as exc:
                with lock:
                    failures.append(f"{round_name}: {exc.code().name}: {exc.details()}")
                return
            with lock:
                ids.extend(response.context_ids)

        def burst(round_name: str) -> None:
            threads = [threading.Thread(target=call, args=(round_name, n)) for n in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)

        burst("warm")
        dropped = _aborted_clients(short_timeout_url)
        time.sleep(IDLE)
        dropped = _aborted_clients(short_timeout_url) - dropped
        # The server's connections (one per thread that served a call, at least one) died idle.
        assert dropped >= 1, "no connection was dropped while idle: the test proves nothing"
        started = time.monotonic()
        burst("after-idle")
        elapsed = time.monotonic() - started
        assert not failures, failures
        assert len(ids) == 2 * THREADS
        stored = stub.GetContextsByID(svc.GetContextsByIDRequest(context_ids=ids), timeout=30).contexts
        assert len(stored) == 2 * THREADS
    finally:
        assert server.terminate() == 0, server.log()
    assert "Traceback" not in server.log(), server.log()
    figure(f"grpcserver on MariaDB with wait_timeout {WAIT_TIMEOUT} s: {THREADS} concurrent calls, idle {IDLE} s, "
           f"{dropped} server connections dropped, {THREADS} concurrent calls again: {len(ids)} of {2 * THREADS} succeeded, "
           f"second burst {elapsed * 1000:.0f} ms")
