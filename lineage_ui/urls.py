from __future__ import annotations

from django.urls import path

from lineage_ui import views

app_name = "lineage_ui"

urlpatterns = [
    path("", views.home, name="home"),
]
