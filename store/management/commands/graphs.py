"""``manage.py graphs``: the background drawings of large contexts, by hand.

    manage.py graphs --rebuild [--context ID ...]   draw here and now, with a progress bar
    manage.py graphs --rebuild --enqueue [...]      hand them to the Celery workers instead
    manage.py graphs --status                       the drawing jobs and their state
    manage.py graphs --sweep                        what the periodic sweep does, once

Without ``--context`` the rebuild covers every context above the in-process size
limit (``MLMD_INPROCESS_GRAPH_LIMIT``) and every context that has a drawing job.
A rebuild here goes through the same job rows as the workers (the page shows
its progress) and draws even contexts whose drawing is current; a context a
live worker is drawing is left to it.  Works without Redis: the pages show the
drawings made here while they are current.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from store.models import Context, GraphJob
from store.services import graph_jobs


class Command(BaseCommand):
    help = "Rebuild, queue or list the background drawings of large contexts."

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--rebuild", action="store_true", help="Draw the contexts' graphs again.")
        action.add_argument("--status", action="store_true", help="List the drawing jobs.")
        action.add_argument("--sweep", action="store_true", help="Recover dead workers' jobs, resend lost ones, clean up.")
        parser.add_argument("--context", type=int, action="append", default=[], metavar="ID", help="Only this context (repeatable).")
        parser.add_argument("--enqueue", action="store_true", help="With --rebuild: queue for the workers, do not draw here.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            self._status(options["context"])
        elif options["sweep"]:
            self.stdout.write(f"sweep: {graph_jobs.sweep()}")
        elif options["enqueue"]:
            self._enqueue(self._targets(options["context"]))
        else:
            self._rebuild(self._targets(options["context"]), progress=not options["no_progress"])

    def _targets(self, wanted: list[int]) -> list[int]:
        if wanted:
            found = set(Context.objects.filter(id__in=wanted).values_list("id", flat=True))
            missing = sorted(set(wanted) - found)
            if missing:
                raise CommandError(f"no context with id {', '.join(map(str, missing))}")
            return sorted(found)
        ids = set(GraphJob.objects.filter(variant="").values_list("context_id", flat=True))
        all_ids = list(Context.objects.order_by("id").values_list("id", flat=True))
        for start in range(0, len(all_ids), 500):
            sizes = graph_jobs.approximate_sizes(all_ids[start : start + 500])
            ids.update(i for i, n in sizes.items() if n > graph_jobs.size_threshold())
        return sorted(ids)

    def _enqueue(self, context_ids: list[int]) -> None:
        if not graph_jobs.workers_enabled():
            raise CommandError("--enqueue needs the Celery workers (set REDIS_URL); draw here with --rebuild alone.")
        graph_jobs.dispatcher.inline = True
        for context_id in context_ids:
            graph_jobs.retry(context_id, "")
        self.stdout.write(f"queued {len(context_ids)} drawing{'s' if len(context_ids) != 1 else ''} for the workers")

    def _rebuild(self, context_ids: list[int], *, progress: bool) -> None:
        from lineage_ui import precompute  # the drawing code lives with the dashboard

        runner = f"manage.py-graphs-{uuid.uuid4().hex[:12]}"
        worker = f"{socket.gethostname()}:{os.getpid()} (manage.py graphs)"
        done = skipped = failed = 0
        contexts = tqdm(context_ids, desc="contexts", unit="context", disable=not progress)
        for context_id in contexts:
            bar = tqdm(total=100, desc=f"context {context_id}", leave=False, disable=not progress, bar_format="{l_bar}{bar}| {postfix}")

            def moved(percent: int, stage: str, bar: Any = bar) -> None:
                bar.n = percent
                bar.set_postfix_str(stage, refresh=True)

            outcome = precompute.run(context_id, "", runner=runner, worker=worker, on_progress=moved, force=True)
            bar.close()
            if outcome.status == "done":
                done += 1
                contexts.write(f"context {context_id}: {outcome.drawn_nodes} nodes drawn, layout {outcome.layout_ms} ms")
            elif outcome.status == "skipped":
                skipped += 1
                contexts.write(f"context {context_id}: skipped ({outcome.detail})")
            else:
                failed += 1
                contexts.write(f"context {context_id}: FAILED: {outcome.detail}")
        self.stdout.write(f"rebuilt {done}, skipped {skipped}, failed {failed}")
        if failed:
            raise CommandError(f"{failed} drawing{'s' if failed != 1 else ''} failed")

    def _status(self, wanted: list[int]) -> None:
        jobs = GraphJob.objects.select_related("context").order_by("context_id", "variant")
        if wanted:
            jobs = jobs.filter(context_id__in=wanted)
        now = timezone.now()
        self.stdout.write(f"{'context':>8} {'group':<13} {'status':<8} {'progress':>8} {'runs':>5} {'draws':>5}  detail")
        for job in jobs:
            detail = job.stage or job.error[:60]
            if job.status == graph_jobs.RUNNING and job.heartbeat_at:
                detail += f" (heartbeat {int((now - job.heartbeat_at).total_seconds())} s ago)"
            self.stdout.write(
                f"{job.context_id:>8} {job.variant or '-':<13} {job.status:<8} {job.progress:>7}% "
                f"{job.runs:>5} {job.draws:>5}  {detail}"
            )
