from __future__ import annotations

from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "store"
    verbose_name = "Metadata store"
    default_auto_field = "django.db.models.BigAutoField"
