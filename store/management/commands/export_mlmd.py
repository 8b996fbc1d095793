"""``manage.py export_mlmd --sqlite PATH``: write this store into a new ml-metadata SQLite file.

The file has ml-metadata's schema version 10, created with the exact statements
ml-metadata 1.17.1 runs, so ml-metadata 1.14 to 1.17 open and read it (and so
does ``import_mlmd``): nobody is locked into this store.  Ids, times, every
property value, event paths, attributions, associations and parent contexts
are written as they are here.  What ml-metadata's tables have no place for
(``system_metadata`` of artifacts and executions) is left out and reported.
"""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from store.mlmd_schema import MlmdSchemaError, export_sqlite


class Command(BaseCommand):
    help = "Write this store into a new ml-metadata (schema version 10) SQLite file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sqlite", metavar="PATH", required=True, help="The file to create (must not exist).")
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows read per query (default 1000).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = export_sqlite(
                options["sqlite"],
                batch_size=max(1, options["batch_size"]),
                progress=False if options["no_progress"] else None,
                progress_stream=self.stderr._out,
            )
        except MlmdSchemaError as exc:
            raise CommandError(str(exc)) from exc
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        counts = ", ".join(f"{count} {table}" for table, count in report.counts.items())
        self.stdout.write(self.style.SUCCESS(f"Wrote {report.path} (ml-metadata schema version 10): {counts}."))
