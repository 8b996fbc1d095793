"""``manage.py prune --before DATE [--context-type T] [--dry-run]``: delete old runs for good.

Each context created before DATE (of type T when given) is deleted with its
run: its executions, their events and the artifacts only they produced
(``store.services.retention``), one transaction per context.  Without
``--context-type`` every older context counts, experiments included, and an
experiment's run is every execution associated with it: name the run type
(e.g. ``--context-type PipelineRun``) to prune runs alone.  Also forgets
expired Idempotency-Keys of the REST API.
"""
from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from store.services import idempotency, retention
from store.services.errors import MetadataStoreError, NotFound


def parse_before(raw: str) -> int:
    """ms since the epoch of an ISO 8601 date (midnight UTC) or date-time (UTC unless a zone is given)."""
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            moment = datetime.combine(day, time.min) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--before {raw!r} is not an ISO 8601 date or date-time (e.g. 2024-01-31).")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class Command(BaseCommand):
    help = "Delete contexts created before a date with their runs (executions, events, artifacts only they produced)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="ISO 8601 date or date-time; older contexts are pruned.")
        parser.add_argument("--context-type", help="Only contexts of this type (e.g. PipelineRun).")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be removed; change nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        before = parse_before(options["before"])
        dry_run = options["dry_run"]
        context_ids = retention.contexts_created_before(before, options["context_type"])
        totals = {"contexts": 0, "executions": 0, "artifacts": 0, "kept_artifacts": 0, "events": 0}
        bar = tqdm(context_ids, desc="prune", unit="context", disable=options["no_progress"] or None)
        for context_id in bar:
            try:
                report = retention.delete_context_run(context_id, dry_run=dry_run)
            except NotFound:
                continue  # removed meanwhile by someone else
            except MetadataStoreError as exc:
                raise CommandError(f"context {context_id}: {exc.message}") from exc
            totals["contexts"] += 1
            totals["executions"] += len(report.execution_ids)
            totals["artifacts"] += len(report.artifact_ids)
            totals["kept_artifacts"] += len(report.kept_artifact_ids)
            totals["events"] += report.events
        keys = idempotency.count_expired() if dry_run else idempotency.delete_expired()
        verb = "Would remove" if dry_run else "Removed"
        self.stdout.write(
            f"{verb} {totals['contexts']} contexts, {totals['executions']} executions, {totals['artifacts']} artifacts"
            f" and {totals['events']} events; kept {totals['kept_artifacts']} artifacts used elsewhere;"
            f" {keys} expired idempotency keys."
        )
