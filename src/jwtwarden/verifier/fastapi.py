"""FastAPI: a security dependency that returns the verified claims.

:class:`RequireToken` is a FastAPI ``SecurityBase`` (an HTTP ``bearer``
scheme, ``bearerFormat: JWT``), so routes that depend on it show the
padlock in OpenAPI; it also accepts the browser-mode access cookie, which
OpenAPI's one-scheme-per-dependency model does not show::

    require_user = RequireToken(verifier)
    require_admin = RequireToken(verifier, roles=["admin"])

    @app.get("/me")
    def me(claims: AccessClaims = Security(require_user)) -> dict: ...

A failure raises :class:`TokenRefused`, an ``HTTPException`` carrying the
RFC 6750 challenge: FastAPI's default handler answers it with the right
status and ``WWW-Authenticate``, and :func:`install_refusal_handler` makes
the body the jwtwarden ``{"error", "error_description"}`` JSON too.

``Authorization: DPoP <token>`` with its ``DPoP`` proof is accepted as
the ASGI middleware accepts it (``public_origin``/``trust_forwarded`` name
the URI the proof must carry: :func:`~jwtwarden.verifier.asgi.request_uri`),
and its refusals carry the ``DPoP`` challenge.

FastAPI is imported here only; ``jwtwarden.verifier`` never imports it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.responses import Response

from ..errors import JwtWardenError
from ..tokens.access import AccessClaims
from .asgi import read_headers, verify_scope
from .credentials import Refusal, refusal_for, uses_dpop
from .verifier import Verifier, require_roles

__all__ = ["RequireToken", "TokenRefused", "install_refusal_handler", "refusal_handler"]


class TokenRefused(HTTPException):
    """A missing, bad or revoked token (401), a missing role (403), or
    tokens that cannot be judged now (503 with ``Retry-After``)."""

    def __init__(self, error: JwtWardenError, *, dpop: bool = False) -> None:
        #: The status, challenge and JSON body to answer with.
        self.refusal: Refusal = refusal_for(error, dpop=dpop)
        #: The jwtwarden error behind the refusal.
        self.error = error
        headers = {
            name: value
            for name, value in self.refusal.headers.items()
            if name in ("www-authenticate", "retry-after", "cache-control")
        }
        detail = json.loads(self.refusal.body)["error_description"]
        super().__init__(self.refusal.status, detail=detail, headers=headers)


class RequireToken(SecurityBase):
    """A dependency returning the :class:`~jwtwarden.AccessClaims` of the
    request's token (``Bearer`` header first, then the access cookie), which
    must carry every role in ``roles``.

    Raises :class:`TokenRefused`: 401 ``invalid_token``, 403
    ``insufficient_scope``, 503 ``temporarily_unavailable`` with
    ``Retry-After`` (revocations out of date, keys unreachable).
    ``scheme_name`` and ``description`` name the scheme in OpenAPI;
    ``insecure_cookies`` also accepts the plain-HTTP development cookie.
    """

    def __init__(
        self,
        verifier: Verifier,
        roles: Iterable[str] = (),
        *,
        insecure_cookies: bool = False,
        scheme_name: str | None = None,
        description: str | None = None,
        public_origin: str | None = None,
        trust_forwarded: bool = False,
    ) -> None:
        self.verifier = verifier
        self.public_origin = public_origin
        self.trust_forwarded = trust_forwarded
        self.roles = tuple(roles)
        self.insecure_cookies = insecure_cookies
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        # One scheme in OpenAPI whatever the roles: they are the same credentials.
        self.scheme_name = scheme_name or "jwtwarden"

    async def __call__(self, request: Request) -> AccessClaims:
        try:
            claims = await verify_scope(
                self.verifier,
                request.scope,
                insecure_cookies=self.insecure_cookies,
                public_origin=self.public_origin,
                trust_forwarded=self.trust_forwarded,
            )
            return require_roles(claims, self.roles)
        except JwtWardenError as error:
            raise TokenRefused(error, dpop=uses_dpop(read_headers(request.scope)[0])) from None


async def refusal_handler(request: Request, exc: Exception) -> Response:
    """Answer a :class:`TokenRefused` with the jwtwarden JSON body."""
    if not isinstance(exc, TokenRefused):  # pragma: no cover - registered for it only
        raise exc
    refusal = exc.refusal
    return Response(refusal.body, status_code=refusal.status, headers=refusal.headers)


def install_refusal_handler(app: FastAPI) -> None:
    """Make refusals answer ``{"error", "error_description"}`` instead of
    FastAPI's ``{"detail"}``."""
    app.add_exception_handler(TokenRefused, refusal_handler)
