"""Views of the test project."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import update_session_auth_hash
from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtwarden.verifier.django import require_token


def _who(request: Any) -> dict[str, Any]:
    user = request.user
    return {
        "user": user.get_username() if user.is_authenticated else None,
        "staff": bool(getattr(user, "is_staff", False)),
        "sub": request.auth.sub if request.auth is not None else None,
        "roles": list(request.auth.roles) if request.auth is not None else None,
    }


class DrfMe(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(_who(request))


class DrfAdmin(APIView):
    permission_classes = [IsAdminUser]

    def get(self, request: Request) -> Response:
        return Response(_who(request))


class DrfChangePassword(APIView):
    """A password change made in a jwtwarden session: the caller stays in."""

    def post(self, request: Request) -> Response:
        request.user.set_password(request.data["new_password"])
        request.user.save()
        update_session_auth_hash(request._request, request.user)
        return Response({})


def plain_me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_who(request))


@require_token()
def plain_required(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_who(request))


def plain_change_password(request: HttpRequest) -> JsonResponse:
    """A POST without a CSRF token: accepted for a bearer-token request."""
    if not request.user.is_authenticated:
        return JsonResponse({}, status=401)
    request.user.set_password(request.POST["new_password"])
    request.user.save()
    return JsonResponse({})
