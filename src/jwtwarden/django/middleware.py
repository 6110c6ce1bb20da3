"""``request.user`` and ``request.auth`` from a bearer token, for plain
Django views: add ``"jwtwarden.django.middleware.JWTAuthenticationMiddleware"``
to ``MIDDLEWARE`` after Django's ``AuthenticationMiddleware``.

For a request with a valid access token (``Authorization: Bearer``,
``Authorization: DPoP`` with its proof, or jwtwarden's access cookie)
``request.user`` becomes the project's user, loaded lazily
(``AnonymousUser`` if gone or inactive), or a
:class:`~jwtwarden.verifier.django.ClaimsUser` with ``JWTWARDEN["USER"] =
"claims"``, and ``request.auth`` the verified claims. Without one the
request is left as Django's session middleware made it (``request.auth`` is
``None``), and a rejected token is kept for
:func:`jwtwarden.verifier.django.require_token`, which refuses a view with
401 or 503 as the verifier integration does. ``login_required`` works on the
user it sets.

A request authenticated by an ``Authorization`` header is exempt from
Django's CSRF check: browsers never attach that header by themselves, which
is the attack CSRF protection is for. A cookie-borne token is not exempt.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ..verifier.credentials import credentials_from_authorization
from ..verifier.django import annotate
from ._dpop import app_verifier
from .service import current_options, current_session
from .users import lazy_user

__all__ = ["JWTAuthenticationMiddleware"]


class JWTAuthenticationMiddleware:
    """Sets ``request.user`` and ``request.auth`` for a valid token."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.auth = None  # type: ignore[attr-defined]
        claims = annotate(request, app_verifier)
        if claims is None:
            return self.get_response(request)
        request.user = lazy_user(claims, current_options().user)
        request.auth = claims  # type: ignore[attr-defined]
        if credentials_from_authorization(request.META.get("HTTP_AUTHORIZATION")) is not None:
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        reset = current_session.set((claims.sub, claims.sid))
        try:
            return self.get_response(request)
        finally:
            current_session.reset(reset)
