"""Real processes around one database for the reliability tests: the web site under
gunicorn, a Celery worker with its Redis, and the one-off commands that prepare a
database (migrate, an API token).

Every process gets its own session (``start_new_session``) so that a test can
kill it with its children, as an OOM killer or a lost machine would, with
``kill(signal.SIGKILL)``.  Ports are picked by the OS and read back from the
logs, so there is no free-port race.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.grpc.servers import REPO_ROOT, server_environment

MANAGE = REPO_ROOT / "manage.py"
STARTUP_TIMEOUT = 90.0
_GUNICORN_LISTENING = re.compile(r"Listening at: http://(?P<host>[^:]+):(?P<port>\d+)")


def site_environment(database: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every process of a test: one SQLite file, no gRPC token, no write throttling."""
    return server_environment(
        database.parent,
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "MLMD_API_WRITE_RATE": "1000000/minute",
            **(extra or {}),
        },
    )


def manage(env: Mapping[str, str], *args: str) -> str:
    """``manage.py *args`` to completion; its stdout."""
    done = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=REPO_ROOT, env=dict(env), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
    )
    if done.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def writer_token(env: Mapping[str, str], username: str = "reliability-writer") -> str:
    """A REST API token of a user who may write (``manage.py create_api_token --writer``)."""
    return manage(env, "create_api_token", username, "--writer", "--create-user").strip().splitlines()[-1]


@dataclass
class Process:
    """A started process (the leader of its own session) and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30.0) -> int | None:
        """Send ``sig`` to the whole session (a gunicorn master and its workers); the exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 20 s."""
        if not self.alive():
            return self.process.returncode
        return self.kill(signal.SIGTERM, timeout=20.0)


def spawn(name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> Process:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return Process(name, process, log_path)


@dataclass
class Web(Process):
    port: int = 0
    log_offset: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def launch_gunicorn(env: Mapping[str, str], log_path: Path, workers: int = 2) -> Web:
    """Start ``gunicorn mlmdsite.wsgi --workers N`` on a free port without waiting (see ``wait_ready``)."""
    # --timeout as the README advises: above the longest wait of a request for database locks
    # (gunicorn's default, 30 s, would kill a worker still waiting and drop its client's connection).
    started = spawn(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "mlmdsite.wsgi", "--workers", str(workers), "--bind", "127.0.0.1:0",
         "--no-control-socket", "--timeout", "120", "--graceful-timeout", "5"],
        env, log_path,
    )
    web = Web(started.name, started.process, started.log_path)
    web.log_offset = len(web.log())  # the log is appended to across restarts
    return web


def wait_ready(web: Web) -> Web:
    """Return once gunicorn listens and a worker (Django loaded) answers."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not web.port:
        match = _GUNICORN_LISTENING.search(web.log()[web.log_offset:])
        if match:
            web.port = int(match["port"])
        elif not web.alive() or time.monotonic() > deadline:
            web.kill()
            pytest.fail(f"gunicorn did not start:\n{web.log()[-4000:]}")
        else:
            time.sleep(0.05)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", web.port), timeout=5) as conn:
                conn.sendall(b"GET /api/v1/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if conn.recv(16).startswith(b"HTTP/"):
                    return web
        except OSError:
            pass
        if not web.alive() or time.monotonic() > deadline:
            web.kill()
            pytest.fail(f"gunicorn's workers never answered:\n{web.log()[-4000:]}")
        time.sleep(0.05)


def start_gunicorn(env: Mapping[str, str], log_path: Path, workers: int = 2) -> Web:
    """``gunicorn mlmdsite.wsgi --workers N`` on a free port; returns once its workers answer."""
    return wait_ready(launch_gunicorn(env, log_path, workers))


def start_redis(directory: Path) -> str:
    """A throwaway Redis (``scripts/redis.sh``); its URL."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts/redis.sh"), "start", "--dir", str(directory)],
        capture_output=True, text=True, timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"could not start Redis:\n{done.stderr}")
    return done.stdout.strip()


def stop_redis(directory: Path) -> None:
    subprocess.run(
        ["bash", str(REPO_ROOT / "scripts/redis.sh"), "stop", "--dir", str(directory)],
        capture_output=True, timeout=60, check=False,
    )


def start_celery_worker(env: Mapping[str, str], log_path: Path, name: str = "reliability") -> Process:
    """``celery -A mlmdsite worker`` (one pool process, with its beat); returns once it answers a ping."""
    from celery import Celery

    node = f"{name}@{socket.gethostname()}"
    worker = spawn(
        "celery",
        [sys.executable, "-m", "celery", "-A", "mlmdsite", "worker", "-n", node, "--pool", "prefork",
         "--concurrency", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
         "-B", "-s", str(log_path.parent / f"beat-{name}")],
        env, log_path,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if not worker.alive():
            pytest.fail(f"the Celery worker exited:\n{worker.log()[-4000:]}")
        probe = Celery(broker=env["REDIS_URL"])
        try:
            if probe.control.ping(destination=[node], timeout=0.5):
                return worker
        except Exception:  # the broker or the worker is not up yet
            pass
        finally:
            probe.close()
        if time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"the Celery worker never answered:\n{worker.log()[-4000:]}")
        time.sleep(0.2)
