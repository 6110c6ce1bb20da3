"""Views of the example: plain Django views behind ``require_token`` and a
DRF view behind ``JwtWardenAuthentication`` (from the settings)."""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpRequest, JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtwarden import AccessClaims
from jwtwarden.verifier.django import HasRoles, get_verifier, require_token


@require_token()
def me(request: HttpRequest) -> JsonResponse:
    claims = request.jwtwarden_claims  # type: ignore[attr-defined]
    return JsonResponse({"sub": claims.sub, "roles": list(claims.roles)})


@require_token(roles=["admin"])
def report(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"report": "for admins", "by": request.jwtwarden_claims.sub})  # type: ignore[attr-defined]


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def readyz(request: HttpRequest) -> JsonResponse:
    ready = get_verifier().is_fresh()
    return JsonResponse({"ready": ready}, status=200 if ready else 503)


class AdminSessions(APIView):
    """A DRF view: authenticated by the token, ``admin`` role required."""

    permission_classes = [HasRoles]
    required_roles = ("admin",)

    def get(self, request: Request) -> Response:
        claims = cast(AccessClaims, request.auth)
        body: dict[str, Any] = {"by": str(request.user), "roles": list(claims.roles)}
        return Response(body)
