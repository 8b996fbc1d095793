"""Admin pages of the background drawings: the jobs with their state, and the stored drawings.

Registered by importing this module from ``store.admin``.  Read-only but for
two actions that go through ``store.services.graph_jobs`` (the same functions
as the page's retry button): redraw the selected contexts, and run the sweep.
Staff see here what the workers are doing: which job runs where, its progress
and heartbeat age, how many runs and drawings it took, and the last error.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from store.models import GraphDrawing, GraphJob
from store.services import graph_jobs


class ReadOnlyAdminMixin:
    """Rows written by workers only: no adding or editing by hand; a number searches by context id."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> tuple[QuerySet[Any], bool]:
        results, duplicates = super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        term = search_term.strip().lstrip("#")
        if term.isdigit() and len(term) < 19:
            results = results | queryset.filter(context_id=int(term))
        return results, duplicates


@admin.register(GraphJob)
class GraphJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "context_link",
        "variant",
        "status",
        "progress_text",
        "stage",
        "heartbeat",
        "attempts",
        "runs",
        "draws",
        "queued_at",
        "finished_at",
        "short_error",
    )
    list_filter = ("status",)
    list_select_related = ("context",)
    raw_id_fields = ("context",)
    search_fields = ("context__name", "task_id", "worker")
    ordering = ("-id",)
    actions = ("redraw", "sweep")
    readonly_fields = [field.name for field in GraphJob._meta.fields]

    @admin.display(description="context", ordering="context_id")
    def context_link(self, job: GraphJob) -> str:
        url = reverse("lineage_ui:context", args=[job.context_id])
        suffix = f"?expand={job.variant}" if job.variant else ""
        return format_html('<a href="{}{}">{}</a>', url, suffix, job.context.name)

    @admin.display(description="progress")
    def progress_text(self, job: GraphJob) -> str:
        return f"{job.progress}%" if job.status == graph_jobs.RUNNING else ""

    @admin.display(description="heartbeat")
    def heartbeat(self, job: GraphJob) -> str:
        if job.status != graph_jobs.RUNNING or job.heartbeat_at is None:
            return ""
        age = (timezone.now() - job.heartbeat_at).total_seconds()
        return f"{age:.0f} s ago" + (" (stale: worker lost?)" if graph_jobs.is_stale(job) else "")

    @admin.display(description="error")
    def short_error(self, job: GraphJob) -> str:
        return job.error[:120]

    @admin.action(description="Draw the selected contexts again")
    def redraw(self, request: HttpRequest, queryset: QuerySet[GraphJob]) -> None:
        if not graph_jobs.workers_enabled():
            self.message_user(request, "No Celery workers are configured (REDIS_URL): use manage.py graphs --rebuild.",
                              messages.WARNING)
            return
        count = 0
        for job in queryset:
            graph_jobs.retry(job.context_id, job.variant)
            count += 1
        self.message_user(request, f"Queued {count} drawing job{'s' if count != 1 else ''}.", messages.SUCCESS)

    @admin.action(description="Sweep: recover jobs of dead workers, resend lost ones, clean up")
    def sweep(self, request: HttpRequest, queryset: QuerySet[GraphJob]) -> None:
        self.message_user(request, f"Sweep: {graph_jobs.sweep()}.", messages.SUCCESS)


@admin.register(GraphDrawing)
class GraphDrawingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "context_link",
        "variant",
        "version",
        "drawn_at",
        "total_nodes",
        "drawn_nodes",
        "hidden_nodes",
        "groups",
        "load_ms",
        "layout_ms",
    )
    list_select_related = ("context",)
    raw_id_fields = ("context",)
    search_fields = ("context__name", "version")
    date_hierarchy = "drawn_at"
    ordering = ("-drawn_at",)
    # The SVG and DOT texts run to megabytes: never load them for the list.
    exclude = ("svg", "dot", "layout")
    readonly_fields = [f.name for f in GraphDrawing._meta.fields if f.name not in ("svg", "dot", "layout")]

    def get_queryset(self, request: HttpRequest) -> QuerySet[GraphDrawing]:
        return super().get_queryset(request).defer("svg", "dot", "layout", "node_index")

    @admin.display(description="context", ordering="context_id")
    def context_link(self, drawing: GraphDrawing) -> str:
        url = reverse("lineage_ui:context", args=[drawing.context_id])
        suffix = f"?expand={drawing.variant}" if drawing.variant else ""
        return format_html('<a href="{}{}">{}</a>', url, suffix, drawing.context.name)
