"""The token endpoints, in djangorestframework-simplejwt's shapes so that
existing clients keep working:

====================  ===============================  =========================
``token/``            ``{USERNAME_FIELD, "password"}``  ``{"access", "refresh"}``
``token/refresh/``    ``{"refresh"}``, always rotated   ``{"access", "refresh"}``
``token/blacklist/``  ``{"refresh"}``: session ends     ``{}``
``token/verify/``     ``{"token"}``: an access token    ``{}`` or 401
====================  ===============================  =========================

Credentials are checked by ``django.contrib.auth.authenticate``, so every
configured authentication backend works, behind jwtwarden's failed-login
limits (``LOGIN_MAX_FAILURES`` per username and client IP, and
``LOGIN_IP_MAX_FAILURES`` per IP, in ``LOGIN_WINDOW``): past them, 429 with
``Retry-After`` before any password is checked, the right one included.
Refusals are simplejwt's: 400 with ``{field: ["This field is required."]}``,
401 with ``{"detail", "code"}`` (``no_active_account``, ``token_not_valid``)
and ``WWW-Authenticate: Bearer realm="api"``; 503 ``temporarily_unavailable``
with ``Retry-After`` when the store is down. With DRF installed the views are
DRF views, so the project's parsers, throttles and exception handler apply;
without it they are plain Django views with the same bodies. Nothing is
changed by a refused request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..core.inputs import MAX_PASSWORD_LENGTH
from ..errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidTokenError,
    RateLimitedError,
    RefreshTokenReusedError,
    StoreUnavailableError,
)
from . import simplejwt, throttle
from .service import current_options, get_service
from .users import sub_of

__all__ = [
    "Refusal",
    "TokenBlacklistView",
    "TokenObtainPairView",
    "TokenRefreshView",
    "TokenVerifyView",
    "drf_views",
]

#: Longest field value read; a token, an email or a password is far shorter.
MAX_FIELD_LENGTH = 8192
WWW_AUTHENTICATE = 'Bearer realm="api"'
NO_ACCOUNT = "No active account found with the given credentials"
TOKEN_NOT_VALID = "Token is invalid or expired"


class Refusal(Exception):
    """A refused request: its status and simplejwt-shaped body."""

    def __init__(self, status: int, body: dict[str, Any], retry_after: int | None = None) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.retry_after = retry_after


def _token_refusal() -> Refusal:
    return Refusal(401, {"detail": TOKEN_NOT_VALID, "code": "token_not_valid"})


def _field(data: Mapping[str, Any], name: str, limit: int = MAX_FIELD_LENGTH) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise Refusal(400, {name: ["This field is required."]})
    if not isinstance(value, str):
        raise Refusal(400, {name: ["Not a valid string."]})
    if len(value) > limit:
        raise Refusal(400, {name: [f"Ensure this field has no more than {limit} characters."]})
    return value


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _user_agent(request: HttpRequest) -> str | None:
    return request.META.get("HTTP_USER_AGENT")


def _pair(pair: Any) -> dict[str, str]:
    return {"access": pair.access_token, "refresh": pair.refresh_token}


def _start(request: HttpRequest) -> Callable[[Any], Any]:
    def start(user: Any) -> Any:
        roles = list(current_options().roles(user))
        return get_service().start_session(
            sub_of(user), roles=roles, ip=_ip(request), user_agent=_user_agent(request)
        )

    return start


def obtain_pair(request: HttpRequest, data: Mapping[str, Any]) -> dict[str, str]:
    """Log a project user in: ``{"access", "refresh"}``."""
    username_field = str(get_user_model().USERNAME_FIELD)
    username = _field(data, username_field)
    password = _field(data, "password", MAX_PASSWORD_LENGTH)
    attempt = throttle.attempt(username, _ip(request), _user_agent(request))
    user = authenticate(request, **{username_field: username, "password": password})
    if user is None or not getattr(user, "is_active", True):
        attempt.failed()
        raise Refusal(401, {"detail": NO_ACCOUNT, "code": "no_active_account"})
    attempt.succeeded()
    try:
        return _pair(_start(request)(user))
    except InvalidGrantError:  # banned in jwtwarden (deactivated, or by an operator)
        raise Refusal(401, {"detail": NO_ACCOUNT, "code": "no_active_account"}) from None


def refresh_pair(request: HttpRequest, data: Mapping[str, Any]) -> dict[str, str]:
    """Rotate a refresh token (or trade a simplejwt one, during a migration)."""
    token = _field(data, "refresh")
    try:
        return _pair(get_service().refresh(token, ip=_ip(request), user_agent=_user_agent(request)))
    except RefreshTokenReusedError:
        raise _token_refusal() from None
    except (InvalidGrantError, InvalidRequestError):
        if not (current_options().simplejwt_migration and simplejwt.looks_like_jwt(token)):
            raise _token_refusal() from None
    try:
        return _pair(simplejwt.trade(token, _start(request)))
    except InvalidGrantError:
        raise _token_refusal() from None


def blacklist(request: HttpRequest, data: Mapping[str, Any]) -> dict[str, str]:
    """End the session of a refresh token."""
    token = _field(data, "refresh")
    if get_service().revoke_refresh_token(token):
        return {}
    migrating = current_options().simplejwt_migration and simplejwt.looks_like_jwt(token)
    if migrating and simplejwt.revoke(token):
        return {}
    raise _token_refusal()


def verify(request: HttpRequest, data: Mapping[str, Any]) -> dict[str, str]:
    """200 for a valid access token (signature, expiry, revocation)."""
    token = _field(data, "token")
    try:
        get_service().verify(token)
    except InvalidTokenError:
        raise _token_refusal() from None
    return {}


def _guarded(handler: Callable[[HttpRequest, Mapping[str, Any]], dict[str, str]]) -> Any:
    def run(request: HttpRequest, data: Mapping[str, Any]) -> dict[str, str]:
        try:
            return handler(request, data)
        except StoreUnavailableError as error:
            body = {"detail": error.description, "code": "temporarily_unavailable"}
            raise Refusal(503, body, retry_after=1) from None
        except InvalidRequestError as error:
            raise Refusal(400, {"detail": error.description, "code": "invalid"}) from None
        except RateLimitedError as error:
            wait = error.retry_after
            body = {"detail": f"Request was throttled. Expected available in {wait} seconds."}
            raise Refusal(429, {**body, "code": "throttled"}, retry_after=wait) from None

    return run


class _PlainView(View):
    handler: Callable[[HttpRequest, Mapping[str, Any]], dict[str, str]]
    http_method_names = ["post", "options"]

    @method_decorator(csrf_exempt)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return super().dispatch(request, *args, **kwargs)

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            data = _parsed(request)
            return JsonResponse(_guarded(type(self).handler)(request, data))
        except Refusal as refusal:
            return _refusal_response(refusal)


def _parsed(request: HttpRequest) -> Mapping[str, Any]:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise Refusal(400, {"detail": "JSON parse error", "code": "parse_error"}) from None
        if not isinstance(data, dict):
            raise Refusal(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        return data
    return request.POST


def _refusal_response(refusal: Refusal) -> HttpResponse:
    response = JsonResponse(refusal.body, status=refusal.status)
    if refusal.status == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    if refusal.retry_after is not None:
        response["Retry-After"] = str(refusal.retry_after)
    return response


class TokenObtainPairView(_PlainView):
    handler = staticmethod(obtain_pair)


class TokenRefreshView(_PlainView):
    handler = staticmethod(refresh_pair)


class TokenBlacklistView(_PlainView):
    handler = staticmethod(blacklist)


class TokenVerifyView(_PlainView):
    handler = staticmethod(verify)


def drf_views() -> dict[str, Any]:
    """The same four endpoints as DRF views (built on first use, so a project
    without DRF never imports it)."""
    from rest_framework import exceptions
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Refused(exceptions.AuthenticationFailed):
        """A 401 whose body is simplejwt's ``{"detail", "code"}``."""

        def __init__(self, body: dict[str, Any]) -> None:
            super().__init__()
            self.detail = body

    class Unavailable(exceptions.APIException):
        status_code = 503

        def __init__(self, refusal: Refusal) -> None:
            super().__init__()
            self.detail = refusal.body
            self.wait = refusal.retry_after

    class Base(APIView):
        authentication_classes = ()
        permission_classes = ()
        handler: Callable[[HttpRequest, Mapping[str, Any]], dict[str, str]]

        def get_authenticate_header(self, request: Request) -> str:
            return WWW_AUTHENTICATE

        def post(self, request: Request) -> Response:
            try:
                return Response(_guarded(type(self).handler)(request._request, request.data))
            except Refusal as refusal:
                if refusal.status == 401:
                    raise Refused(refusal.body) from None
                if refusal.status == 503:
                    raise Unavailable(refusal) from None
                if refusal.status == 429:
                    raise exceptions.Throttled(refusal.retry_after) from None
                raise exceptions.ValidationError(refusal.body) from None

    def view(name: str, handler: Any) -> type:
        return type(name, (Base,), {"handler": staticmethod(handler), "__doc__": handler.__doc__})

    return {
        "obtain": view("TokenObtainPairView", obtain_pair),
        "refresh": view("TokenRefreshView", refresh_pair),
        "blacklist": view("TokenBlacklistView", blacklist),
        "verify": view("TokenVerifyView", verify),
    }
