"""Load the demo pipeline runs (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from store.db import atomic
from store.demo import load_demo


class Command(BaseCommand):
    help = "Record several runs of a TFX-shaped pipeline (one failed) as demo data; does nothing if already loaded."

    def handle(self, *args: Any, **options: Any) -> None:
        with atomic():
            summary = load_demo()
        if not summary.created:
            self.stdout.write("Demo data is already loaded.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the demo: {summary.runs} pipeline runs, {summary.executions} executions,"
                f" {summary.artifacts} artifacts, contexts {', '.join(summary.contexts)}."
            )
        )
