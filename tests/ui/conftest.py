"""Fixtures of the dashboard tests: a recorded pipeline, and the store's settings for the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from tests.ui.builders import Pipeline, record_pipeline


@pytest.fixture(autouse=True)
def _dashboard_settings(settings: Any) -> None:
    settings.MLMD_ANONYMOUS_READ = False
    settings.MLMD_INPROCESS_GRAPH_LIMIT = 300
    # Static files straight from static/, without a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cache.clear()


@pytest.fixture
def pipeline(db: None) -> Pipeline:
    return record_pipeline()


SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
_taken: list[Path] = []


def screenshot_path(name: str) -> Path:
    """Where a browser test saves a screenshot; the folder is printed at the end of the run."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    _taken.append(path)
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _taken:
        terminalreporter.write_line(f"dashboard screenshots ({len(_taken)}): {SCREENSHOT_DIR}")
