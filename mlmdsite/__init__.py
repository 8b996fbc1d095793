"""Django project for the ML metadata store and its lineage dashboard."""
from __future__ import annotations

from mlmdsite.celery import app as celery_app

__all__ = ["celery_app"]
