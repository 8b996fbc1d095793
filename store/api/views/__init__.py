"""The REST API's views, one module per family of resources."""
from __future__ import annotations

from store.api.views.edges import AssociationViewSet, AttributionViewSet, EventViewSet, ParentContextViewSet
from store.api.views.nodes import ArtifactViewSet, ContextViewSet, ExecutionViewSet
from store.api.views.types import ArtifactTypeViewSet, ContextTypeViewSet, ExecutionTypeViewSet

__all__ = [
    "ArtifactTypeViewSet",
    "ArtifactViewSet",
    "AssociationViewSet",
    "AttributionViewSet",
    "ContextTypeViewSet",
    "ContextViewSet",
    "EventViewSet",
    "ExecutionTypeViewSet",
    "ExecutionViewSet",
    "ParentContextViewSet",
]
