"""Celery application: workers that precompute large lineage drawings.

The broker and result backend are the Redis at REDIS_URL; every setting is a
``CELERY_*`` name in ``mlmdsite.settings``.  Without REDIS_URL the broker is
Celery's in-memory transport, nothing is ever sent to it, and the site shows
large graphs as their summary (``store.services.graph_jobs.workers_enabled``).

    celery -A mlmdsite worker --loglevel INFO       # a worker (add -B on one machine for the sweep)
    celery -A mlmdsite beat                         # or the sweep on its own, once per installation
    celery -A mlmdsite inspect ping|active|registered|stats
"""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmdsite.settings")

app = Celery("mlmdsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds lineage_ui.tasks (the drawing tasks) in the installed apps.
app.autodiscover_tasks()
