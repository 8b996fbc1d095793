"""Celery application: workers that precompute large lineage drawings.

The broker and result backend come from REDIS_URL (see settings); without it the
site draws graphs in-process and never enqueues anything.
"""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmdsite.settings")

app = Celery("mlmdsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
