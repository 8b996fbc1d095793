"""Fixtures of the background-drawing tests: settings, a recording dispatcher, large contexts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache

from store.services import graph_jobs
from tests.graphs.builders import BigContext, build_context
from tests.ui.test_browser import browser_page  # noqa: F401 -- headless Chromium, for test_browser.py


@pytest.fixture(autouse=True)
def _graph_settings(settings: Any) -> None:
    settings.MLMD_ANONYMOUS_READ = False
    settings.MLMD_INPROCESS_GRAPH_LIMIT = 300
    settings.MLMD_GRAPH_WORKERS = False
    settings.MLMD_GRAPH_DEBOUNCE_SECONDS = 2
    settings.MLMD_GRAPH_STALE_SECONDS = 30
    settings.MLMD_GRAPH_REQUEUE_SECONDS = 120
    settings.MLMD_GRAPH_MAX_ATTEMPTS = 3
    settings.MLMD_GRAPH_RETRY_BASE_SECONDS = 5
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cache.clear()


@dataclass
class Sent:
    """What the dispatcher sent (instead of Redis): (task name, args, countdown)."""

    messages: list[tuple[str, list[Any], float]] = field(default_factory=list)
    fail: bool = False

    def send(self, name: str, args: list[Any], countdown: float) -> None:
        if self.fail:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.messages.append((name, list(args), countdown))

    def draws(self) -> list[tuple[int, str]]:
        return [(args[0], args[1]) for name, args, _ in self.messages if name == graph_jobs.DRAW_TASK]

    def changed(self) -> list[list[int]]:
        return [args[0] for name, args, _ in self.messages if name == graph_jobs.CHANGED_TASK]

    def clear(self) -> None:
        self.messages.clear()


@pytest.fixture
def sent(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """Workers on, and every message recorded here, sent at once in the caller's thread."""
    settings.MLMD_GRAPH_WORKERS = True
    record = Sent()
    dispatcher = graph_jobs.Dispatcher()
    dispatcher.inline = True
    dispatcher.send = record.send
    monkeypatch.setattr(graph_jobs, "dispatcher", dispatcher)
    yield record


@pytest.fixture
def big(db: None) -> BigContext:
    """A fan-out run of 100 chains: 500 executions and 1,500 artifacts (above the 300-node limit)."""
    return build_context(100, name="big-run")
