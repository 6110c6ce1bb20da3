"""URLs of the Django test site (tests/verifier/apps.py configures it):
plain views behind ``require_token`` and DRF views behind
``JwtWardenAuthentication``."""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtwarden import AccessClaims
from jwtwarden.verifier.django import HasRoles, require_token

from .apps import me


@require_token()
def who(request: HttpRequest) -> JsonResponse:
    return JsonResponse(me(request.jwtwarden_claims))  # type: ignore[attr-defined]


@require_token(roles=["admin"])
def admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse(me(request.jwtwarden_claims))  # type: ignore[attr-defined]


def public(request: HttpRequest) -> JsonResponse:
    claims = request.jwtwarden_claims  # type: ignore[attr-defined]
    return JsonResponse({"public": True, "sub": claims.sub if claims else None})


class DrfMe(APIView):
    def get(self, request: Request) -> Response:
        return Response({**me(cast(AccessClaims, request.auth)), "user": str(request.user)})


class DrfAdmin(APIView):
    permission_classes = [HasRoles]
    required_roles = ("admin",)

    def get(self, request: Request) -> Response:
        return Response(me(cast(AccessClaims, request.auth)))


class DrfStaff(APIView):
    """Django's own permission class on a claims-only user."""

    permission_classes = [IsAdminUser]

    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"staff": user.is_staff, "superuser": user.is_superuser})


urlpatterns: list[Any] = [
    path("me", who),
    path("admin/", admin),
    path("public", public),
    path("drf/me", DrfMe.as_view()),
    path("drf/admin", DrfAdmin.as_view()),
    path("drf/staff", DrfStaff.as_view()),
]
