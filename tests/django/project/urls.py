"""The test project's routes: jwtwarden's token endpoints where simplejwt's
were, DRF and plain views behind jwtwarden's authentication, Django's own
password-change view, and simplejwt's endpoints (the "before" of a
migration)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.urls import include, path
from rest_framework_simplejwt.views import TokenObtainPairView as SimpleJwtObtain

from jwtwarden.django import views as token_views

from . import views

#: The same endpoints as plain Django views (what a project without DRF gets).
plain_token_views = [
    path("", token_views.TokenObtainPairView.as_view()),
    path("refresh/", token_views.TokenRefreshView.as_view()),
    path("blacklist/", token_views.TokenBlacklistView.as_view()),
    path("verify/", token_views.TokenVerifyView.as_view()),
]

urlpatterns: list[Any] = [
    path("api/token/", include("jwtwarden.django.urls")),
    path("plain-api/token/", include(plain_token_views)),
    path("simplejwt/token/", SimpleJwtObtain.as_view()),
    path("drf/me", views.DrfMe.as_view()),
    path("drf/admin", views.DrfAdmin.as_view()),
    path("drf/password", views.DrfChangePassword.as_view()),
    path("plain/me", views.plain_me),
    path("plain/required", views.plain_required),
    path("plain/password", views.plain_change_password),
    path("password_change/", auth_views.PasswordChangeView.as_view(success_url="/done")),
]
