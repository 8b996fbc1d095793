"""Dashboard URLs: every page is a bookmarkable GET (but the retry button of a background drawing)."""

from __future__ import annotations

from django.urls import path, register_converter

from lineage_ui import views


class StoreIdConverter:
    """Ids as stored (64-bit): a longer number is simply not a page (404), never an overflow."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(StoreIdConverter, "mlmd_id")

app_name = "lineage_ui"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("types/", views.types, name="types"),
    path("compare/", views.compare, name="compare"),
    path("contexts/", views.kind_index, {"kind": "context"}, name="contexts"),
    path("artifacts/", views.kind_index, {"kind": "artifact"}, name="artifacts"),
    path("executions/", views.kind_index, {"kind": "execution"}, name="executions"),
    path("contexts/type/<mlmd_id:type_id>/", views.node_table, {"kind": "context"}, name="context_type"),
    path("artifacts/type/<mlmd_id:type_id>/", views.node_table, {"kind": "artifact"}, name="artifact_type"),
    path("executions/type/<mlmd_id:type_id>/", views.node_table, {"kind": "execution"}, name="execution_type"),
    path("contexts/<mlmd_id:pk>/", views.context, name="context"),
    path("contexts/<mlmd_id:pk>/graph.<str:fmt>", views.context_graph, name="context_graph"),
    path("contexts/<mlmd_id:pk>/drawing.json", views.context_drawing_status, name="context_drawing_status"),
    path("contexts/<mlmd_id:pk>/drawing/retry", views.context_drawing_retry, name="context_drawing_retry"),
    path("contexts/<mlmd_id:pk>/drawing/<mlmd_id:drawing_id>.svg", views.context_drawing_svg, name="context_drawing_svg"),
    path("artifacts/<mlmd_id:pk>/", views.artifact, name="artifact"),
    path("artifacts/<mlmd_id:pk>/lineage.<str:fmt>", views.artifact_graph, name="artifact_graph"),
    path("executions/<mlmd_id:pk>/", views.execution, name="execution"),
    path("executions/<mlmd_id:pk>/lineage.<str:fmt>", views.execution_graph, name="execution_graph"),
]
