"""``manage.py fill_node_messages [--chunk N] [--no-progress]``: store the messages reads would rebuild.

Artifacts, executions and contexts written before the stored messages existed
(``Node.serialized``), or saved through the admin, are read about five times
slower: their messages are rebuilt from their rows on every read.  This
command builds and stores them, a chunk of nodes per transaction, while the
store stays in use.  Running it again stores nothing new.
"""
from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from store.services import node_messages
from store.services.kinds import KINDS


class Command(BaseCommand):
    help = "Store the messages of artifacts, executions and contexts that have none (a store upgraded from an earlier version)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk", type=int, default=1000, help="Nodes per transaction (default 1000).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args: Any, **options: Any) -> None:
        chunk = options["chunk"]
        if chunk < 1:
            raise CommandError("--chunk must be at least 1.")
        for kind in KINDS.values():
            started = time.monotonic()
            total = node_messages.count_missing(kind)
            bar = tqdm(
                total=total, desc=f"{kind.name}s", unit="node", file=self.stderr._out,
                disable=options["no_progress"] or None,
            )
            try:
                filled = node_messages.fill_missing(kind, chunk=chunk, progress=bar.update)
            finally:
                bar.close()
            self.stdout.write(f"{kind.name}s: {filled} filled in {time.monotonic() - started:.1f} s")
