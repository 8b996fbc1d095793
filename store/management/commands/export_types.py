"""``manage.py export_types [--format textproto|json] [-o FILE]``: every type of the store, as a file.

The output is MLMD's ``PutTypesRequest`` (text format by default, or JSON),
without ids, so ``load_types`` — or any MLMD client's ``PutTypes`` — loads it
into another store.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from store.services import types_io


class Command(BaseCommand):
    help = "Write every type of the store as a PutTypesRequest (text format or JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=types_io.FORMATS, default=types_io.TEXTPROTO)
        parser.add_argument("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = types_io.export_types(options["format"])
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote the types to {options['output']}.")
        else:
            self.stdout.write(text, ending="")
