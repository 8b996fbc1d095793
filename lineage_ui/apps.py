from __future__ import annotations

from django.apps import AppConfig


class LineageUiConfig(AppConfig):
    name = "lineage_ui"
    verbose_name = "Lineage dashboard"
