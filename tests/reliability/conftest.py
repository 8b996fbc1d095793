"""Shared by the reliability tests (issue #10): how a test reports its figure.

Every test here prints one or more lines of the form
``[reliability] <test name>: <figure>`` to the terminal, outside pytest's
capture, so that the test command's output carries the figures the README's
"Reliability" section quotes.  ``sqlite_only`` marks a test that needs the
default database to be an SQLite file (it runs in the SQLite pass of the test
command, not again in the MariaDB pass).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings

sqlite_only = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="runs against an SQLite file, in the SQLite pass of the test command",
)


@pytest.fixture
def figure(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str], None]]:
    """``figure("8 writers x 250 calls: 2000 acknowledged in 12.3 s")``: printed after the test."""
    lines: list[str] = []
    yield lines.append
    with capsys.disabled():
        for line in lines:
            print(f"\n[reliability] {request.node.name}: {line}", end="")
        if lines:
            print()
