"""``manage.py import_mlmd --sqlite PATH | --mysql URL [--batch-size N] [--resume]``.

Copies an ml-metadata database (schema version 10: ml-metadata 1.14 to 1.17)
into this store: types with versions, base types, properties and parent types;
artifacts, executions and contexts with every property and custom property;
events with their paths; attributions, associations and parent contexts; ids
and times as they were.  The source is only read.

Into an empty store the source's ids are kept, so ids held elsewhere
(dashboards, notebooks, Kubeflow run records) stay valid.  Into a store that
already holds metadata the rows get new ids, and the source → store mapping is
written to a JSON file whose path is printed.

Rows are copied in batches, each in its own transaction; an interrupted import
(Ctrl-C, a crash, a lost connection) continues with ``--resume`` and copies no
row twice.  Then the imported nodes get their stored messages (what
``fill_node_messages`` does), so that the store reads fast from the start.
The import ends with a verification report: rows per entity in the
source and in the store, and a sample of nodes compared field by field.  The
exit status is 0 when the report is clean, 1 when it found a difference.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from store.mlmd_schema import ImportOptions, MlmdSchemaError, MlmdSource, import_database


def format_report(report: dict[str, Any]) -> str:
    """The verification report as a table for people."""
    lines = [f"Verification of the import of {report['source']} (schema {report['schema_version']}, ids {report['ids']}):"]
    width = max(len(row["entity"]) for row in report["counts"])
    lines.append(f"  {'entity':<{width}}  {'source':>9}  {'store':>9}  {'skipped':>7}")
    for row in report["counts"]:
        flag = "" if row["ok"] else "   <-- differs"
        lines.append(f"  {row['entity']:<{width}}  {row['source']:>9}  {row['target']:>9}  {row['skipped']:>7}{flag}")
    sample = report["sample"]
    lines.append(f"  sample: {sample['compared']} nodes compared field by field, {len(sample['mismatches'])} differences")
    for mismatch in sample["mismatches"][:20]:
        lines.append(
            f"    {mismatch['kind']} {mismatch['source_id']}: {mismatch['field']}: source {mismatch['source']!r},"
            f" store {mismatch['target']!r}"
        )
    if report["warnings"]:
        lines.append(f"  warnings ({len(report['warnings'])}):")
        lines.extend(f"    {warning}" for warning in report["warnings"])
    lines.append("  OK: the store holds what the source holds." if report["ok"] else "  NOT OK: see the differences above.")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Import an ml-metadata database (schema version 10) into this store, resumably, and verify the copy."

    def add_arguments(self, parser: CommandParser) -> None:
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--sqlite", metavar="PATH", help="An ml-metadata SQLite file (opened read-only).")
        where.add_argument(
            "--mysql",
            metavar="URL",
            help="mysql://user:password@host:port/database of an ml-metadata MySQL database (needs mysqlclient).",
        )
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows per transaction (default 1000).")
        parser.add_argument("--resume", action="store_true", help="Finish an interrupted import of the same source.")
        parser.add_argument("--sample", type=int, default=10, help="Nodes per kind compared field by field (default 10).")
        parser.add_argument("--mapping-file", metavar="PATH", help="Where to write the id mapping when ids are remapped.")
        parser.add_argument("--report-file", metavar="PATH", help="Also write the verification report as JSON.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            source = MlmdSource.sqlite(options["sqlite"]) if options["sqlite"] else MlmdSource.mysql(options["mysql"])
        except MlmdSchemaError as exc:
            raise CommandError(str(exc)) from exc
        import_options = ImportOptions(
            batch_size=options["batch_size"],
            resume=options["resume"],
            sample_size=options["sample"],
            progress=False if options["no_progress"] else None,
            mapping_file=options["mapping_file"],
        )
        try:
            result = import_database(source, import_options, log=self.stdout.write, progress_stream=self.stderr._out)
        except MlmdSchemaError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted.  Every finished batch is kept; run the same command with --resume to continue."
            ) from None
        finally:
            source.close()
        self.stdout.write(format_report(result.report))
        if result.mapping_file:
            self.stdout.write(f"The ids were remapped; the source → store id mapping is in {result.mapping_file}")
        if options["report_file"]:
            Path(options["report_file"]).write_text(json.dumps(result.report, indent=1, sort_keys=True) + "\n")
            self.stdout.write(f"The verification report is in {options['report_file']}")
        if not result.report["ok"]:
            raise CommandError("The verification found differences (see the report above).", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"Imported {result.run.source} (import #{result.run.pk})."))
