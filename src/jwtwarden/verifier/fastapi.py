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

For an app with its own users (it starts sessions with ``start_session``)
and routes open to anonymous callers::

    optional_user = OptionalToken(verifier)          # no credentials: None
    get_user = user_dependency(require_user, load)   # load(claims) -> user or None

    @app.get("/hello")
    def hello(claims: AccessClaims | None = Security(optional_user)) -> dict: ...

    @app.get("/profile")
    def profile(user: User = Depends(get_user)) -> dict: ...

``RequireToken(verifier, token_url=token_endpoint(verifier))`` makes the
scheme an OAuth2 password flow on jwtwarden's token endpoint, so Swagger
UI's "Authorize" (``/docs``) fetches a token with a username and password.
The browser posts that form itself and jwtwarden's ``/token`` answers no
CORS, so it must be on the docs' origin (a reverse-proxy route), or
``token_url`` names the app's own token route.

FastAPI is imported here only; ``jwtwarden.verifier`` never imports it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowPassword, OAuthFlows
from fastapi.security.base import SecurityBase
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..errors import (
    DpopBoundTokenError,
    InvalidTokenError,
    JwtWardenError,
)
from ..tokens.access import AccessClaims
from .asgi import read_headers, verify_scope
from .credentials import Refusal, refusal_for, sends_credentials, uses_dpop
from .verifier import Verifier, require_roles, token_from_headers

__all__ = [
    "EmbeddedService",
    "OptionalToken",
    "RequireToken",
    "TokenRefused",
    "UserLoader",
    "install_refusal_handler",
    "refusal_handler",
    "token_endpoint",
    "user_dependency",
]

#: ``load(claims) -> user or None`` (or an async function): the app's own
#: user for verified claims.
UserLoader = Callable[[AccessClaims], Any] | Callable[[AccessClaims], Awaitable[Any]]


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


class EmbeddedService(Protocol):
    """What :class:`RequireToken` uses of an embedded async
    :class:`jwtwarden.TokenService` (named structurally, so this module
    never imports the auth server)."""

    async def verify(self, access_token: str) -> AccessClaims: ...


class RequireToken(SecurityBase):
    """A dependency returning the :class:`~jwtwarden.AccessClaims` of the
    request's token (``Bearer`` header first, then the access cookie), which
    must carry every role in ``roles``.

    ``verifier`` may also be the app's own started async
    :class:`jwtwarden.TokenService` (an app that starts sessions itself):
    tokens are then checked by its ``verify``, against the store,
    revocations included, and a store outage is a 503.

    Raises :class:`TokenRefused`: 401 ``invalid_token``, 403
    ``insufficient_scope``, 503 ``temporarily_unavailable`` with
    ``Retry-After`` (revocations out of date, keys unreachable).
    ``scheme_name`` and ``description`` name the scheme in OpenAPI;
    ``insecure_cookies`` also accepts the plain-HTTP development cookie.
    With ``token_url`` (see :func:`token_endpoint`) the scheme is an OAuth2
    password flow on that token endpoint instead of plain ``bearer``, for
    Swagger UI's "Authorize"; the credentials checked are the same. Give
    every dependency of an app the same ``token_url`` (or distinct
    ``scheme_name`` values): OpenAPI keeps one scheme per name.
    """

    def __init__(
        self,
        verifier: Verifier | EmbeddedService,
        roles: Iterable[str] = (),
        *,
        insecure_cookies: bool = False,
        scheme_name: str | None = None,
        description: str | None = None,
        token_url: str | None = None,
        public_origin: str | None = None,
        trust_forwarded: bool = False,
    ) -> None:
        self.verifier = verifier
        self.public_origin = public_origin
        self.trust_forwarded = trust_forwarded
        self.roles = tuple(roles)
        self.insecure_cookies = insecure_cookies
        self.model: HTTPBearerModel | OAuth2Model = (
            password_flow(token_url, description)
            if token_url
            else HTTPBearerModel(bearerFormat="JWT", description=description)
        )
        # One scheme in OpenAPI whatever the roles: they are the same credentials.
        self.scheme_name = scheme_name or "jwtwarden"

    async def __call__(self, request: Request) -> AccessClaims:
        try:
            claims = await self.verify_request(request)
            return require_roles(claims, self.roles)
        except JwtWardenError as error:
            raise TokenRefused(error, dpop=uses_dpop(read_headers(request.scope)[0])) from None

    async def verify_request(self, request: Request) -> AccessClaims:
        if isinstance(self.verifier, Verifier):
            return await verify_scope(
                self.verifier,
                request.scope,
                insecure_cookies=self.insecure_cookies,
                public_origin=self.public_origin,
                trust_forwarded=self.trust_forwarded,
            )
        # An embedded service judges the token against the store; a DPoP
        # presentation needs a Verifier (token_from_headers refuses the DPoP
        # scheme), and a bound token as Bearer is refused (RFC 9449 §7.2).
        authorization, cookie = read_headers(request.scope)
        token = token_from_headers(authorization, cookie, insecure_cookies=self.insecure_cookies)
        claims = await self.verifier.verify(token)  # a store outage: 503 (refusal_for)
        if claims.jkt is not None:
            raise DpopBoundTokenError()
        return claims


class OptionalToken(RequireToken):
    """:class:`RequireToken` for routes open to anonymous callers too: a
    request that sends no credentials at all (no ``Authorization`` header,
    no access cookie) gets ``None``; credentials that are sent are checked
    as always, so a bad, revoked or unreadable token is still a 401, a
    missing role a 403, and unknown revocations a 503 (a bad token is never
    taken for "anonymous")."""

    async def __call__(self, request: Request) -> AccessClaims | None:  # type: ignore[override]
        authorization, cookie = read_headers(request.scope)
        if not sends_credentials(authorization, cookie, self.insecure_cookies):
            return None
        return await super().__call__(request)


def user_dependency(require: RequireToken, load: UserLoader) -> Callable[..., Awaitable[Any]]:
    """A dependency giving the app's own user for the request's token:
    ``load(claims)`` (run in the thread pool when it is a plain function,
    awaited when async), called once per request.

    A loader returning ``None`` (the user is gone) is a 401
    ``invalid_token``; with an :class:`OptionalToken` an anonymous request
    gets ``None`` without calling the loader. Refusals of ``require`` pass
    through unchanged.
    """

    async def current_user(
        claims: AccessClaims | None = Security(require),
    ) -> Any:
        if claims is None:
            return None
        if inspect.iscoroutinefunction(load):
            user = await load(claims)
        else:
            user = await run_in_threadpool(load, claims)
        if user is None:
            raise TokenRefused(InvalidTokenError("The token's user does not exist."))
        return user

    return current_user


def token_endpoint(verifier: Verifier) -> str:
    """The token endpoint of the verifier's issuer (``<issuer>/token``, as
    its RFC 8414 metadata names it)."""
    return f"{verifier.issuer.rstrip('/')}/token"


def password_flow(token_url: str, description: str | None = None) -> OAuth2Model:
    """An OAuth2 security scheme whose password flow posts to ``token_url``
    (RFC 6749 §4.3, the ``grant_type=password`` jwtwarden's token endpoint
    takes): Swagger UI then shows "Authorize" with a username and password."""
    flows = OAuthFlows(password=OAuthFlowPassword(tokenUrl=token_url, scopes={}))
    return OAuth2Model(flows=flows, description=description)


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
