"""Running the import/export commands on store files, in-process or as a real process."""
from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management import call_command

from store.db import using
from tests.importer.reference import REPO_ROOT, open_store

_LISTENING = re.compile(r"Serving ml_metadata\.MetadataStoreService on (?P<host>\S+):(?P<port>\d+) \(")


@dataclass
class CommandRun:
    stdout: str
    report: dict[str, Any] | None


def run_command(store: Any, name: str, *args: str, report_file: Path | None = None) -> CommandRun:
    """``manage.py NAME ARGS`` in this process, on the database of one of our MetadataStore objects."""
    out = io.StringIO()
    extra = ["--report-file", str(report_file)] if report_file else []
    with using(store.database_alias):
        call_command(name, *args, *extra, stdout=out, stderr=io.StringIO())
    report = json.loads(report_file.read_text()) if report_file and report_file.exists() else None
    return CommandRun(stdout=out.getvalue(), report=report)


def import_into(target: Path, source: Path, *args: str, tmp: Path) -> CommandRun:
    """Import ``source`` into the store file ``target`` (created when missing); the output and report."""
    with open_store(target) as store:
        return run_command(
            store, "import_mlmd", "--sqlite", str(source), "--no-progress", *args, report_file=tmp / f"report-{target.stem}.json"
        )


def manage_env(database: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLMD_GRPC_TOKEN")}
    env.update(DATABASE_URL=f"sqlite:///{database}", DJANGO_SETTINGS_MODULE="mlmdsite.settings", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@contextmanager
def grpc_server(database: Path, log_path: Path) -> Iterator[str]:
    """``manage.py grpcserver`` on a store file; yields host:port once it listens."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "manage.py"), "grpcserver", "--host", "127.0.0.1", "--port", "0"],
            cwd=REPO_ROOT,
            env=manage_env(database),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            found = _LISTENING.search(log_path.read_text(errors="replace"))
            if found:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"grpcserver did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield f"127.0.0.1:{found.group('port')}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
