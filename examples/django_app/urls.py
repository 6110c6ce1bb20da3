"""URLs of the example."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import views

urlpatterns: list[Any] = [
    path("me", views.me),
    path("admin/report", views.report),
    path("api/admin/sessions", views.AdminSessions.as_view()),
    path("healthz", views.healthz),
    path("readyz", views.readyz),
]
