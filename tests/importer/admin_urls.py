"""A URLconf with a small admin site using TypesImportAdminMixin (the real site hooks it in store.admin)."""
from __future__ import annotations

from django.contrib import admin
from django.urls import path

from store.admin_types_import import TypesImportAdminMixin
from store.models import ArtifactType, ContextType, ExecutionType

site = admin.AdminSite(name="admin")
for proxy in (ArtifactType, ExecutionType, ContextType):
    site.register(proxy, type(f"{proxy.__name__}Admin", (TypesImportAdminMixin, admin.ModelAdmin), {}))

urlpatterns = [path("admin/", site.urls)]
