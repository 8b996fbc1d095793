"""Several ``grpcserver`` processes started at the same moment on one empty database
(issue #10 item 11), for the SQLite test here and the MariaDB one in tests/mysql/.

Each server migrates the database it serves when it starts; started together,
they must end with one migrated schema and all of them serving.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db.migrations.loader import MigrationLoader

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import STARTUP_TIMEOUT, ServerProcess, launch

_LISTENING = re.compile(r"Serving ml_metadata\.MetadataStoreService on (?P<host>\S+):(?P<port>\d+) \(")
MIGRATING = "Applying migrations to"


@dataclass
class StartRace:
    servers: list[ServerProcess]
    seconds: float  # from the first launch until the last one serves

    @property
    def migrated(self) -> int:
        """How many servers ran the migrations (the others found them done)."""
        return sum(MIGRATING in server.log() for server in self.servers)

    def logs(self) -> str:
        return "\n".join(f"--- server {i}\n{server.log()[-3000:]}" for i, server in enumerate(self.servers))


def start_at_once(tmp_path: Path, env: Mapping[str, str], count: int = 4) -> StartRace:
    """Launch ``count`` servers on the database of ``env`` together; return once all serve.

    Fails the test when one exits instead (a crash, or a crash loop under a supervisor).
    """
    began = time.monotonic()
    servers = [launch(tmp_path / f"server-{i}", env=env) for i in range(count)]
    race = StartRace(servers, 0.0)
    deadline = began + STARTUP_TIMEOUT
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            match = _LISTENING.search(server.log())
            if match:
                server.port = int(match["port"])
                waiting.remove(server)
            elif server.process.poll() is not None:
                stop_all(servers)
                pytest.fail(f"a server exited with {server.process.returncode} while starting:\n{race.logs()}")
        if time.monotonic() > deadline:
            stop_all(servers)
            pytest.fail(f"servers did not start within {STARTUP_TIMEOUT}s:\n{race.logs()}")
        time.sleep(0.05)
    race.seconds = time.monotonic() - began
    return race


def check_all_serve_one_store(race: StartRace) -> None:
    """Each server writes a type, and each then reads every server's types: one database, working tables."""
    stubs = [server.stub() for server in race.servers]
    names = {f"StartedBy{i}" for i in range(len(stubs))}
    for i, stub in enumerate(stubs):
        stub.PutExecutionType(svc.PutExecutionTypeRequest(execution_type=pb.ExecutionType(name=f"StartedBy{i}")), timeout=60)
    for stub in stubs:
        seen = {t.name for t in stub.GetExecutionTypes(svc.GetExecutionTypesRequest(), timeout=60).execution_types}
        assert names <= seen


def stop_all(servers: Iterable[ServerProcess]) -> list[int]:
    return [server.terminate() for server in servers]


def expected_migrations() -> set[tuple[str, str]]:
    """Every migration of the installed apps, as (app, name)."""
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def check_recorded_once(rows: list[tuple[str, str]]) -> None:
    """``django_migrations`` holds each migration of the code exactly once."""
    duplicates = sorted({row for row in rows if rows.count(row) > 1})
    assert duplicates == [], f"migrations recorded more than once: {duplicates}"
    assert set(rows) == expected_migrations()
