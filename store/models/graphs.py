"""Precomputed drawings of large contexts, and the background jobs that make them.

A context's execution DAG above the in-process size limit is laid out by a
Celery worker (``lineage_ui.tasks``), never inside a page request.  Two tables:

- :class:`GraphJob` is the job's state, one row per context and *variant* (the
  group drawn expanded, ``""`` for the drawing with every group collapsed).  The
  page and its progress bar read it; the worker writes progress and a heartbeat
  to it; the write path, the page and the sweep ask for a new drawing through it
  (``store.services.graph_jobs``), so bursts of writes coalesce into one run.
- :class:`GraphDrawing` is a finished drawing, keyed by context, variant and the
  *content version* it was drawn from (a fingerprint of the context's nodes and
  events, see ``graph_jobs.content_version``).  A page shows a drawing only when
  its version is the context's current one: a stale drawing is never shown as
  current, whichever way the data changed (API, admin, import, prune).
"""

from __future__ import annotations

from django.db import models

from store.models.nodes import Context


class GraphJobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class GraphJob(models.Model):
    """The background drawing of one context (one row per context and expanded group).

    ``version`` is the content version the current or last run draws;
    ``drawn_version`` the one of the last finished drawing.  ``heartbeat_at`` is
    renewed every few seconds by the worker that runs it: a running job whose
    heartbeat is old belongs to a worker that died, and is queued again with a
    back-off (``attempts`` counts such failures in a row; past the limit the job
    fails with the error shown on the page and a retry button).  ``runs`` and
    ``draws`` count started and finished runs over the job's life, for the admin
    and for tests that check that a burst of writes costs one run.
    """

    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(
        max_length=64, blank=True, default="", help_text="The group drawn expanded; empty for all groups collapsed."
    )
    status = models.CharField(max_length=16, choices=GraphJobStatus.choices, default=GraphJobStatus.QUEUED)
    version = models.CharField(max_length=32, blank=True, default="")
    drawn_version = models.CharField(max_length=32, blank=True, default="")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent.")
    stage = models.CharField(max_length=64, blank=True, default="")
    task_id = models.CharField(max_length=255, blank=True, default="", help_text="The Celery task (or command) running it.")
    worker = models.CharField(max_length=255, blank=True, default="", help_text="Host and process that run it.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Failed attempts in a row.")
    runs = models.PositiveIntegerField(default=0)
    draws = models.PositiveIntegerField(default=0)
    max_nodes = models.PositiveIntegerField(
        blank=True, null=True, help_text="A smaller node cap for the next run, after a layout ran out of time."
    )
    error = models.TextField(blank=True, default="")
    queued_at = models.DateTimeField(blank=True, null=True)
    retry_at = models.DateTimeField(blank=True, null=True)
    started_at = models.DateTimeField(blank=True, null=True)
    heartbeat_at = models.DateTimeField(blank=True, null=True)
    finished_at = models.DateTimeField(blank=True, null=True)
    viewed_at = models.DateTimeField(blank=True, null=True, help_text="Last page view (old variants are cleaned up).")

    class Meta:
        ordering = ["-id"]
        verbose_name = "drawing job"
        constraints = [models.UniqueConstraint(fields=["context", "variant"], name="graphjob_unique_context_variant")]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="graphjob_status_heartbeat")]

    def __str__(self) -> str:
        what = f"context {self.context_id}" + (f" (group {self.variant})" if self.variant else "")
        return f"drawing of {what}: {self.status}"


class GraphDrawing(models.Model):
    """A finished drawing of one context at one content version.

    ``svg`` is what the page shows, ``dot`` the Graphviz input (the DOT
    download), ``layout`` the same graph with the positions ``dot`` computed (a
    PNG is rendered from it with ``neato -n2``, without laying it out again).
    ``node_index`` describes the drawn nodes (groups with their counts and
    member ids, the nodes left out), for the page's group list and "N more" note.
    """

    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=64, blank=True, default="")
    version = models.CharField(max_length=32)
    drawn_at = models.DateTimeField()
    svg = models.TextField()
    dot = models.TextField()
    layout = models.TextField(blank=True, default="")
    node_index = models.JSONField(default=dict)
    total_nodes = models.PositiveIntegerField(default=0, help_text="Executions and artifacts of the context.")
    drawn_nodes = models.PositiveIntegerField(default=0, help_text="Nodes in the drawing (a group counts once).")
    hidden_nodes = models.PositiveIntegerField(default=0, help_text="Executions and artifacts left out by the cap.")
    groups = models.PositiveIntegerField(default=0)
    max_nodes = models.PositiveIntegerField(default=0)
    load_ms = models.PositiveIntegerField(default=0)
    layout_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-drawn_at"]
        verbose_name = "drawing"
        constraints = [
            models.UniqueConstraint(
                fields=["context", "variant", "version"], name="graphdrawing_unique_context_variant_version"
            )
        ]

    def __str__(self) -> str:
        return f"drawing of context {self.context_id}{' group ' + self.variant if self.variant else ''} @ {self.version}"
