"""Real gRPC servers for the tests: ``manage.py grpcserver`` in a subprocess.

Each server gets its own SQLite file and listens on a port the OS picks
(``--port 0``); the port is read back from the startup log line, so there is
no free-port race.  Clients use the generated ``MetadataStoreServiceStub``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from store.proto import metadata_store_service_pb2_grpc as service_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
MANAGE = REPO_ROOT / "manage.py"
SLOW_LAUNCHER = Path(__file__).resolve().parent / "slow_server.py"
STARTUP_TIMEOUT = 90.0
_LISTENING = re.compile(r"Serving ml_metadata\.MetadataStoreService on (?P<host>\S+):(?P<port>\d+) \(")


@dataclass
class ServerProcess:
    """A running ``grpcserver`` subprocess and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0
    channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def channel(self, options: Sequence[tuple[str, int]] = ()) -> grpc.Channel:
        channel = grpc.insecure_channel(self.target, options=list(options))
        self.channels.append(channel)
        return channel

    def stub(self, options: Sequence[tuple[str, int]] = ()) -> service_grpc.MetadataStoreServiceStub:
        return service_grpc.MetadataStoreServiceStub(self.channel(options))

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"{text!r} never appeared in the server log:\n{self.log()}")
            time.sleep(0.05)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, as an orchestrator stops a container; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the server ignored SIGTERM for {timeout}s:\n{self.log()}")
        finally:
            for channel in self.channels:
                channel.close()


def server_environment(tmp_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment with a private SQLite database and no token."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLMD_GRPC_TOKEN")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_dir / 'site.sqlite3'}",
        DJANGO_SETTINGS_MODULE="mlmdsite.settings",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def command(*args: str, launcher: Path = MANAGE) -> list[str]:
    """The grpcserver command line; later ``args`` override the defaults (argparse: last wins)."""
    return [sys.executable, str(launcher), "grpcserver", "--host", "127.0.0.1", "--port", "0", "--grace", "30", *args]


def run_to_exit(tmp_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a grpcserver that is expected to fail at startup; its result."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        command(*args),
        cwd=REPO_ROOT,
        env=server_environment(tmp_dir, env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def launch(
    tmp_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    launcher: Path = MANAGE,
) -> ServerProcess:
    """Start ``grpcserver`` without waiting for it."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command(*args, launcher=launcher),
            cwd=REPO_ROOT,
            env=server_environment(tmp_dir, env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ServerProcess(process=process, log_path=log_path)


def start_server(
    tmp_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    launcher: Path = MANAGE,
) -> ServerProcess:
    """Start ``grpcserver`` and return once it has logged its listening address."""
    server = launch(tmp_dir, *args, env=env, launcher=launcher)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        match = _LISTENING.search(server.log())
        if match:
            server.port = int(match["port"])
            return server
        if server.process.poll() is not None:
            pytest.fail(f"grpcserver exited with {server.process.returncode} before listening:\n{server.log()}")
        if time.monotonic() > deadline:
            server.terminate()
            pytest.fail(f"grpcserver did not start within {STARTUP_TIMEOUT}s:\n{server.log()}")
        time.sleep(0.05)


def running(tmp_dir: Path, *args: str, **kwargs: object) -> Iterator[ServerProcess]:
    """Body of a server fixture: start, hand over, stop."""
    server = start_server(tmp_dir, *args, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.terminate()


def rpc_error(call: object, *args: object, **kwargs: object) -> grpc.RpcError:
    """The RpcError ``call(*args)`` raises; fails the test if it succeeds."""
    try:
        call(*args, **kwargs)  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc
    pytest.fail(f"{call} succeeded; an error status was expected")
