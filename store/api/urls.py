"""/api/v1/ resources, /api/schema/ (OpenAPI 3) and /api/docs/ (Swagger UI, served from local assets); /api/ leads to the docs."""
from __future__ import annotations

from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from store.api import views


class Router(DefaultRouter):
    """URLs with or without a trailing slash: /api/v1/executions/record and .../record/ both work."""

    include_format_suffixes = False

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
router.register("artifact-types", views.ArtifactTypeViewSet, basename="artifact-type")
router.register("execution-types", views.ExecutionTypeViewSet, basename="execution-type")
router.register("context-types", views.ContextTypeViewSet, basename="context-type")
router.register("artifacts", views.ArtifactViewSet, basename="artifact")
router.register("executions", views.ExecutionViewSet, basename="execution")
router.register("contexts", views.ContextViewSet, basename="context")
router.register("events", views.EventViewSet, basename="event")
router.register("attributions", views.AttributionViewSet, basename="attribution")
router.register("associations", views.AssociationViewSet, basename="association")
router.register("parent-contexts", views.ParentContextViewSet, basename="parent-context")

app_name = "api"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="api:docs"), name="index"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
