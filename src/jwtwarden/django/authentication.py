"""DRF authentication: ``REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES":
["jwtwarden.django.authentication.JWTAuthentication"]}``.

A valid ``Authorization: Bearer`` token (or ``DPoP`` with its proof, judged
against Django's view of the URL: see :mod:`jwtwarden.verifier.django`) sets ``request.user`` to the
project's user (loaded lazily: a view that reads only ``request.auth`` costs
no user query) and ``request.auth`` to the verified
:class:`~jwtwarden.AccessClaims`. No token: ``None``, so other classes and
the permissions decide; a bad, expired or revoked one: 401 with the RFC 6750
challenge; the store down: 503 with ``Retry-After``. A user deleted or
deactivated since (their tokens are revoked then, see
:mod:`~jwtwarden.django.signals`) reads as ``AnonymousUser``, so
``IsAuthenticated`` refuses. With ``JWTWARDEN["USER"] = "claims"`` the user
is a :class:`~jwtwarden.verifier.django.ClaimsUser` (no query at all;
``is_staff`` and ``is_superuser`` from the token's roles, so
``IsAdminUser`` works).

It is the verifier integration's class (:mod:`jwtwarden.verifier.django`)
with the app's service as verifier and the project's users as users.
"""

from __future__ import annotations

from typing import Any

from ..tokens.access import AccessClaims
from ..verifier.django import JwtWardenAuthentication, Verifies
from ._dpop import app_verifier
from .service import current_options
from .users import lazy_user

__all__ = ["JWTAuthentication"]


class JWTAuthentication(JwtWardenAuthentication):  # type: ignore[misc]
    """``(user, claims)`` for a valid bearer token of this project."""

    def get_verifier(self) -> Verifies | None:
        return app_verifier

    def get_user(self, claims: AccessClaims) -> Any:
        return lazy_user(claims, current_options().user)
