"""``manage.py load_types FILE [--can-add-fields] [--can-omit-fields] [--dry-run] [--format F]``.

Loads artifact, execution and context types from a file: MLMD's
``PutTypesRequest`` in protobuf text format (``artifact_types { name: "Model"
properties { key: "accuracy" value: DOUBLE } }`` …) or in JSON.  Types follow
``put_*_type``'s evolution rules; the file is loaded all or nothing, and every
type is reported as created, updated, unchanged or refused.  Exit status 1 when
any type was refused.  ``-`` reads standard input.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from store.services import types_io
from store.services.errors import MetadataStoreError


class Command(BaseCommand):
    help = "Load types from a PutTypesRequest file (text format or JSON), all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The types file, or - for standard input.")
        parser.add_argument("--format", choices=types_io.FORMATS, help="Default: from the file name or content.")
        parser.add_argument("--can-add-fields", action="store_true", help="Stored types may gain new properties.")
        parser.add_argument(
            "--can-omit-fields", action="store_true", help="The file may omit properties of stored types."
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would happen; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        try:
            data = sys.stdin.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {name}: {exc.strerror}") from exc
        try:
            request = types_io.parse_types(data, options["format"], filename="" if name == "-" else name)
            report = types_io.load_types(
                request,
                can_add_fields=options["can_add_fields"],
                can_omit_fields=options["can_omit_fields"],
                dry_run=options["dry_run"],
            )
        except MetadataStoreError as exc:
            raise CommandError(exc.message) from exc
        lines = types_io.format_report(report)
        for line in lines[:-1]:
            self.stdout.write(line)
        if report.refused:
            raise CommandError(lines[-1], returncode=1)
        self.stdout.write(self.style.SUCCESS(lines[-1]))
