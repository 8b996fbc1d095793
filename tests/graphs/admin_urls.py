"""A URLconf with an admin site holding the drawing-job pages (the real site gets them from store.admin)."""
from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from store.admin_graphs import GraphDrawingAdmin, GraphJobAdmin
from store.models import GraphDrawing, GraphJob

site = admin.AdminSite(name="admin")
site.register(GraphJob, GraphJobAdmin)
site.register(GraphDrawing, GraphDrawingAdmin)

urlpatterns = [path("admin/", site.urls), path("", include("lineage_ui.urls"))]
