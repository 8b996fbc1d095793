"""Acceptance of issue 7 with a real Redis and real Celery worker processes, started by the test run.

The worker is another process, so it cannot see pytest-django's in-memory test
database: these tests run against a temporary SQLite file instead, migrated
here, with the test process's ``default`` connection pointed at it for the
module (``file_database``).  Redis is a throwaway ``redis-server`` on a free
port in a temporary directory (``scripts/redis.sh``, which installs Debian's
package when it is missing).  Timing is not asserted here (``bench/graph_time.py``
measures it); the settings below shorten the heartbeat and back-off so that a
dead worker is noticed in seconds.

In order: Celery's own monitoring answers; a context of 5,000 executions and
15,000 artifacts gets a finished drawing while its page answers with progress
and the summary, then serves the stored SVG; one more execution marks the
drawing stale and costs exactly one more run, and so does a burst of writes;
with Redis down writes succeed and the drawing catches up once it is back; a
worker killed (SIGKILL) mid-layout ends in a retried, finished drawing made
by a new worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from celery import Celery
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connections
from django.test import Client, override_settings
from django.urls import reverse

from mlmdsite.celery import app as celery_app
from mlmdsite.env import sqlite_database
from store.models import GraphDrawing, GraphJob
from store.services import graph_jobs
from tests.graphs.builders import BigContext, build_context
from tests.graphs.writes import add_execution

pytestmark = [
    pytest.mark.slow,
    # The worker processes and this one share a throwaway SQLite file (see file_database):
    # the module runs in the SQLite pass of the test command, not again in the MariaDB pass,
    # where the default connection is a MySQL one that cannot be pointed at a file.
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="acceptance of Celery drawings runs against its own SQLite file, in the SQLite pass",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Seconds, for the worker processes (environment) and this process (settings) alike.
GRAPH_SETTINGS = {
    "MLMD_INPROCESS_GRAPH_LIMIT": 300,
    "MLMD_GRAPH_MAX_NODES": 400,
    "MLMD_GRAPH_DEBOUNCE_SECONDS": 2,
    "MLMD_GRAPH_HEARTBEAT_SECONDS": 1,
    "MLMD_GRAPH_STALE_SECONDS": 4,
    "MLMD_GRAPH_REQUEUE_SECONDS": 5,
    "MLMD_GRAPH_RETRY_BASE_SECONDS": 1,
    "MLMD_GRAPH_MAX_ATTEMPTS": 3,
    "MLMD_GRAPH_SWEEP_SECONDS": 2,
}


def wait_for(what: str, predicate: Callable[[], T], timeout: float, logs: Callable[[], str] = lambda: "") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}")


@dataclass
class Stack:
    """Redis, a temporary database file and the worker processes of this module."""

    tmp: Path
    redis_dir: Path
    redis_url: str
    env: dict[str, str]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def redis(self, command: str) -> str:
        return subprocess.run(
            ["bash", str(ROOT / "scripts/redis.sh"), command, "--dir", str(self.redis_dir)],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout.strip()

    def node(self, name: str) -> str:
        return f"{name}@{socket.gethostname()}"

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """A worker with its embedded beat (the periodic sweep), as scripts/run.sh starts it."""
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 -- the worker writes to it until it stops
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mlmdsite", "worker", "-n", self.node(name),
             "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO", "--without-mingle",
             "--without-gossip", "-B", "-s", str(self.tmp / f"beat-{name}")],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.workers[name] = process

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"worker {name} exited:\n{self.log(name)}")
            # A fresh client each time: pooled connections from before a Redis restart are dead.
            probe = Celery(broker=self.redis_url)
            try:
                return bool(probe.control.ping(destination=[self.node(name)], timeout=0.5))
            except Exception:
                return False
            finally:
                probe.close()

        wait_for(f"worker {name}", ready, 90, lambda: self.log(name))
        return process

    def kill_worker(self, name: str) -> None:
        """SIGKILL to the worker, its pool process, its beat and its Graphviz: a machine lost, an OOM kill."""
        process = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_workers(self) -> None:
        for name, process in list(self.workers.items()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            self.workers.pop(name)

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log\n{self.log(name)}" for name in ("worker1", "worker2"))


@contextlib.contextmanager
def file_database(path: Path) -> Iterator[None]:
    """Point this process's ``default`` connection at an SQLite file the workers can open too.

    The in-memory test database (if pytest-django made one) lives as long as
    its connection: that connection is put aside, not closed, and put back after.
    """
    conn = connections["default"]
    saved_settings = dict(conn.settings_dict)
    saved_connection = conn.connection
    conn.connection = None
    conn.settings_dict.update({k: v for k, v in sqlite_database(str(path)).items() if k != "TEST"})
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved_settings)
        conn.connection = saved_connection


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    saved = (celery_app.conf.broker_url, celery_app.conf.result_backend)
    celery_app.conf.broker_url = url
    celery_app.conf.result_backend = url
    graph_jobs.dispatcher._connection = None
    graph_jobs.dispatcher.inline = False
    try:
        yield
    finally:
        graph_jobs.dispatcher.flush(10)
        graph_jobs.dispatcher._connection = None
        celery_app.conf.broker_url, celery_app.conf.result_backend = saved


@pytest.fixture(scope="module")
def stack(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("graphs-acceptance")
    redis_dir = tmp / "redis"
    database = tmp / "mlmd.sqlite3"
    started = subprocess.run(
        ["bash", str(ROOT / "scripts/redis.sh"), "start", "--dir", str(redis_dir)],
        capture_output=True, text=True, timeout=600,
    )
    if started.returncode != 0:
        pytest.fail(f"could not start Redis:\n{started.stderr}")
    redis_url = started.stdout.strip()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlmdsite.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
        **{name: str(value) for name, value in GRAPH_SETTINGS.items()},
    }
    result = Stack(tmp=tmp, redis_dir=redis_dir, redis_url=redis_url, env=env)
    try:
        with (
            django_db_blocker.unblock(),
            file_database(database),
            celery_broker(redis_url),
            override_settings(MLMD_GRAPH_WORKERS=True, REDIS_URL=redis_url, **GRAPH_SETTINGS),
        ):
            call_command("migrate", verbosity=0)
            result.start_worker("worker1")
            yield result
    finally:
        result.stop_workers()
        subprocess.run(["bash", str(ROOT / "scripts/redis.sh"), "stop", "--dir", str(redis_dir)], capture_output=True)


@pytest.fixture(autouse=True)
def _acceptance_settings(settings: Any, stack: Stack) -> None:
    """The package's autouse fixture turns workers off for the other tests: on again, with the short times."""
    settings.MLMD_GRAPH_WORKERS = True
    for name, value in GRAPH_SETTINGS.items():
        setattr(settings, name, value)


@pytest.fixture(scope="module")
def run(stack: Stack) -> BigContext:
    """A fan-out run of 5,000 executions and 15,000 artifacts, written with bulk_create."""
    built = build_context(1000, name="big-run")
    assert (built.executions, built.artifacts) == (5000, 15000)
    return built


@pytest.fixture(scope="module")
def client(stack: Stack) -> Client:
    user, _ = User.objects.get_or_create(username="reader")
    browser = Client()
    browser.force_login(user)
    return browser


def job(context_id: int) -> GraphJob:
    return GraphJob.objects.get(context_id=context_id, variant="")


def page(client: Client, context_id: int) -> str:
    response = client.get(reverse("lineage_ui:context", args=[context_id]))
    assert response.status_code == 200
    return response.content.decode()


def status(client: Client, context_id: int) -> dict[str, Any]:
    response = client.get(reverse("lineage_ui:context_drawing_status", args=[context_id]))
    assert response.status_code == 200
    return dict(response.json())


def drawn_and_current(context_id: int) -> bool:
    current = graph_jobs.content_version(context_id)
    found = GraphJob.objects.filter(context_id=context_id, variant="", status="done", drawn_version=current)
    return found.exists() and GraphDrawing.objects.filter(context_id=context_id, variant="", version=current).exists()


def one_more_execution(run: BigContext, name: str) -> None:
    add_execution("big-run", run.type_ids["PipelineRun"], run.type_ids["Trainer"], name=name,
                  output_type_id=run.type_ids["Model"])


# ---------------------------------------------------------------------------- the tests, in order


def test_celery_monitoring_answers(stack: Stack) -> None:
    for command, expected in (("ping", "pong"), ("registered", "lineage_ui.tasks.draw_context")):
        answer = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "mlmdsite", "inspect", command, "--timeout", "10",
             "--destination", stack.node("worker1")],
            cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120,
        )
        assert answer.returncode == 0, answer.stderr
        assert expected in answer.stdout


def test_a_large_context_gets_a_finished_drawing(stack: Stack, run: BigContext, client: Client) -> None:
    body = page(client, run.context_id)  # no drawing yet: the page asks for one and answers at once
    assert 'data-testid="graph-job"' in body and "<progress" in body
    assert '<span class="badge">summary</span>' in body
    assert "ExampleGen" in body and "× 1000" in body  # the summary graph, drawn in the request
    seen: set[str] = set()

    def finished() -> bool:
        answer = status(client, run.context_id)
        seen.add(answer["state"])
        assert answer["state"] != "failed", answer
        return bool(answer["state"] == "done")

    wait_for("the drawing", finished, 120, stack.logs)
    assert "running" in seen or "queued" in seen
    body = page(client, run.context_id)
    assert 'data-testid="graph-stored"' in body
    assert 'data-testid="graph-job"' not in body
    drawing = GraphDrawing.objects.defer("dot", "layout").get(context_id=run.context_id, variant="")
    assert drawing.svg[:500] in body
    assert drawing.total_nodes == 20000
    assert any(group["count"] >= 990 for group in drawing.node_index["groups"])
    assert (job(run.context_id).runs, job(run.context_id).draws) == (1, 1)


def test_one_more_execution_is_drawn_exactly_once(stack: Stack, run: BigContext, client: Client) -> None:
    before = job(run.context_id)
    one_more_execution(run, "late-trainer")
    # Stale at once: the current version has no drawing, and the page does not show the old one as current.
    assert graph_jobs.content_version(run.context_id) != before.drawn_version
    assert not drawn_and_current(run.context_id)
    # Made by the write hook alone (no page view): contexts_changed, then the debounced run.
    wait_for("the redrawing", lambda: drawn_and_current(run.context_id), 120, stack.logs)
    time.sleep(GRAPH_SETTINGS["MLMD_GRAPH_DEBOUNCE_SECONDS"] + 3)  # anything more would have started by now
    after = job(run.context_id)
    assert (after.runs, after.draws) == (before.runs + 1, before.draws + 1)
    assert 'data-testid="graph-stored"' in page(client, run.context_id)


def test_a_burst_of_writes_is_drawn_once(stack: Stack, run: BigContext) -> None:
    before = job(run.context_id)
    for number in range(10):
        one_more_execution(run, f"burst-{number}")
    wait_for("the redrawing", lambda: drawn_and_current(run.context_id), 120, stack.logs)
    time.sleep(GRAPH_SETTINGS["MLMD_GRAPH_DEBOUNCE_SECONDS"] + 3)
    after = job(run.context_id)
    assert (after.runs, after.draws) == (before.runs + 1, before.draws + 1)
    assert drawn_and_current(run.context_id)


def test_with_redis_down_writes_succeed_and_drawings_catch_up(stack: Stack, run: BigContext) -> None:
    stack.redis("stop")
    try:
        one_more_execution(run, "while-redis-is-down")  # succeeds: writes never wait on Redis
        assert graph_jobs.dispatcher.flush(30)
        assert job(run.context_id).status == "queued"  # marked stale for the sweep
        assert not drawn_and_current(run.context_id)
    finally:
        stack.redis("start")  # the same port (and nothing in it: every message was lost)
    wait_for("the drawing to catch up", lambda: drawn_and_current(run.context_id), 120, stack.logs)
    graph_jobs.dispatcher._paused_until = 0.0  # this process stops waiting before it sends again


def test_a_worker_killed_mid_layout_ends_in_a_retried_finished_drawing(stack: Stack, client: Client) -> None:
    # Little to group here: a few hundred nodes to lay out, a few seconds of Graphviz.
    tangled = build_context(300, name="tangled-run", tangle=True)
    body = page(client, tangled.context_id)
    assert 'data-testid="graph-job"' in body

    def laying_out() -> bool:
        found = GraphJob.objects.filter(context_id=tangled.context_id, variant="").first()
        return found is not None and found.status == "running" and found.stage.startswith("laying out")

    wait_for("the layout to start", laying_out, 120, stack.logs)
    stack.kill_worker("worker1")
    assert job(tangled.context_id).status == "running"  # as the dead worker left it
    stack.start_worker("worker2")
    # Nobody polls the page: the new worker's start-up sweep and beat notice the stale heartbeat.
    wait_for("the retried drawing", lambda: drawn_and_current(tangled.context_id), 180, stack.logs)
    finished = job(tangled.context_id)
    assert (finished.runs, finished.draws) == (2, 1)
    assert finished.attempts == 0 and finished.error == ""
    assert GraphDrawing.objects.get(context_id=tangled.context_id, variant="").drawn_nodes <= 400
    assert 'data-testid="graph-stored"' in page(client, tangled.context_id)
