"""VerifierMiddleware: plain ASGI, no framework imported.

Shaped like starlette's ``AuthenticationMiddleware(app, backend, on_error)``:
every HTTP request and WebSocket handshake must carry a valid access token
(a ``Bearer`` header, else the access cookie, which is what a browser's
WebSocket can send); the claims go into ``scope["jwtwarden.claims"]`` and
a failure goes to an overridable ``on_error``. Lifespan and any other scope
type pass through untouched. Paths in ``exempt_paths`` pass through without
claims (health checks, public pages).

Only ``scope["jwtwarden.claims"]`` is set: ``scope["user"]`` and
``scope["auth"]`` belong to starlette's own middleware.

DPoP (RFC 9449): ``Authorization: DPoP <token>`` with a ``DPoP: <proof>``
header is accepted, the proof checked against the request's method and
URI (:func:`request_uri`): the ``Host`` header and the scope's scheme and
``raw_path``, as starlette's ``request.url`` sees them. Behind a proxy,
either give ``public_origin="https://api.example.com"`` (the origin clients
use, fixed: nothing the request says can change it) or
``trust_forwarded=True`` to read ``X-Forwarded-Proto`` and
``X-Forwarded-Host`` (first value), which only a proxy that overwrites them
may be trusted for. uvicorn's ``--proxy-headers`` already sets the scheme
from ``X-Forwarded-Proto`` for the peers it trusts, not the host.

:class:`RequireRoles` wraps any ASGI app (a mounted router, an endpoint)
and answers 403 ``insufficient_scope`` unless the claims carry every role.

A JWKS refetch (rare, rate-limited) runs in a worker thread so it never
blocks the event loop; every other verification runs inline, being a few
microseconds to a signature check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import quote

from ..errors import JwtWardenError
from ..tokens.access import AccessClaims
from .credentials import refusal_for, uses_dpop
from .dpop import check_bearer
from .verifier import Verifier, credentials_from_headers, require_roles

__all__ = [
    "CLAIMS_KEY",
    "RequireRoles",
    "VerifierMiddleware",
    "claims_of",
    "refuse",
    "request_uri",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorHandler = Callable[[Scope, JwtWardenError], ASGIApp]

#: Where the middleware puts the verified :class:`~jwtwarden.AccessClaims`.
CLAIMS_KEY = "jwtwarden.claims"
_VERIFIED_TYPES = frozenset({"http", "websocket"})
#: A WebSocket handshake is an HTTP GET; its proof names the http(s) URI.
_HTTP_SCHEMES = {"ws": "http", "wss": "https"}


class VerifierMiddleware:
    """Refuse HTTP requests and WebSocket handshakes without a valid access
    token; put the claims of the others into ``scope["jwtwarden.claims"]``.

    ``on_error(scope, error)`` returns the ASGI app that answers a failure;
    the default, :func:`refuse`, answers 401 ``invalid_token`` (403
    ``insufficient_scope``) with the RFC 6750 challenge, and 503
    ``temporarily_unavailable`` with ``Retry-After`` when tokens cannot be
    judged now (revocations out of date, keys unreachable). ``exempt_paths``
    are exact paths, or prefixes when they end with ``/``.
    ``insecure_cookies`` also accepts the plain-HTTP development cookie.
    ``public_origin`` and ``trust_forwarded`` say which URI a DPoP proof
    must name (:func:`request_uri`).
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        *,
        on_error: ErrorHandler | None = None,
        exempt_paths: Iterable[str] = (),
        insecure_cookies: bool = False,
        public_origin: str | None = None,
        trust_forwarded: bool = False,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.on_error: ErrorHandler = on_error or refuse
        exempt = tuple(exempt_paths)
        self.exempt_exact = frozenset(p for p in exempt if not p.endswith("/"))
        self.exempt_prefixes = tuple(p for p in exempt if p.endswith("/"))
        self.insecure_cookies = insecure_cookies
        self.public_origin = public_origin
        self.trust_forwarded = trust_forwarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in _VERIFIED_TYPES or self.is_exempt(scope):
            await self.app(scope, receive, send)
            return
        try:
            claims = await self.authenticate(scope)
        except JwtWardenError as error:
            await self.on_error(scope, error)(scope, receive, send)
            return
        scope[CLAIMS_KEY] = claims
        await self.app(scope, receive, send)

    def is_exempt(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        return path in self.exempt_exact or path.startswith(self.exempt_prefixes)

    async def authenticate(self, scope: Scope) -> AccessClaims:
        """The claims of the request's token, checked with its DPoP proof if
        it is bound; raises what the verifier raises."""
        return await verify_scope(
            self.verifier,
            scope,
            insecure_cookies=self.insecure_cookies,
            public_origin=self.public_origin,
            trust_forwarded=self.trust_forwarded,
        )


async def verify_scope(
    verifier: Verifier,
    scope: Scope,
    *,
    insecure_cookies: bool = False,
    public_origin: str | None = None,
    trust_forwarded: bool = False,
) -> AccessClaims:
    """:meth:`Verifier.verify_request` for an ASGI request; a JWKS refetch
    (rare, rate-limited) runs in a worker thread."""
    authorization, cookie = read_headers(scope)
    scheme, token = credentials_from_headers(
        authorization, cookie, insecure_cookies=insecure_cookies
    )
    method = scope.get("method", "GET")
    if scheme == "bearer" and not verifier.needs_io(token):
        # The usual request: a Bearer token already verified once. The
        # request's URI and proof matter only under DPoP, so neither is
        # built (measured in process, FastAPI behind VerifierMiddleware:
        # this path and one credentials parse instead of two took the
        # middleware's cost per request from 48 to 27 µs, loaded machine).
        claims = verifier.verify(token)
        check_bearer(claims.jkt)
        return claims
    uri = request_uri(scope, public_origin=public_origin, trust_forwarded=trust_forwarded)
    proof = _header(scope, b"dpop")
    if verifier.needs_io(token):
        return await asyncio.to_thread(
            verifier.verify_request,
            method,
            uri,
            authorization,
            proof,
            cookie=cookie,
            insecure_cookies=insecure_cookies,
        )
    return verifier.verify_request(
        method, uri, authorization, proof, cookie=cookie, insecure_cookies=insecure_cookies
    )


def request_uri(
    scope: Scope, *, public_origin: str | None = None, trust_forwarded: bool = False
) -> str:
    """The URI a DPoP proof for this request must name (the query is not
    compared): ``public_origin`` and the path when given; else the scheme
    and ``Host`` the request came with, or, with ``trust_forwarded``, those
    of ``X-Forwarded-Proto`` and ``X-Forwarded-Host``. The path is
    ``raw_path`` as sent (percent-encoded), else ``path`` encoded again."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(scope.get("path", "/"), safe="/%:@!$&'()*+,;=")
    if public_origin is not None:
        return public_origin.rstrip("/") + path
    scheme = str(scope.get("scheme", "http"))
    host = _header(scope, b"host")
    if trust_forwarded:
        scheme = _first(_header(scope, b"x-forwarded-proto")) or scheme
        host = _first(_header(scope, b"x-forwarded-host")) or host
    if not host and scope.get("server"):
        name, port = scope["server"]
        host = f"[{name}]:{port}" if ":" in str(name) else f"{name}:{port}"
    return f"{_HTTP_SCHEMES.get(scheme, scheme)}://{host}{path}"


def _header(scope: Scope, name: bytes) -> str | None:
    """Every ``name`` header joined by commas (so two DPoP proofs make an
    invalid one, RFC 9449 §4.3 step 1), or ``None``."""
    values = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name]
    return ",".join(values) if values else None


def _first(value: str | None) -> str | None:
    return value.split(",", 1)[0].strip() or None if value else None


def read_headers(scope: Scope) -> tuple[str | None, str | None]:
    """The first ``Authorization`` header and every ``Cookie`` header joined
    (HTTP/2 may split cookies over several), as ASGI gives them (latin-1)."""
    authorization: str | None = None
    cookies: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"cookie":
            cookies.append(value.decode("latin-1"))
    return authorization, "; ".join(cookies) or None


def claims_of(scope: Scope) -> AccessClaims:
    """The claims :class:`VerifierMiddleware` put into ``scope``.

    Raises ``KeyError`` when the middleware did not run (an exempt path).
    """
    claims: AccessClaims = scope[CLAIMS_KEY]
    return claims


def refuse(scope: Scope, error: JwtWardenError) -> ASGIApp:
    """The default ``on_error``: the RFC 6750 refusal as an HTTP response;
    for a WebSocket, as a denial response where the server supports it
    (the ``websocket.http.response`` extension), else a close (code 1008)."""
    refusal = refusal_for(error, dpop=uses_dpop(read_headers(scope)[0]))
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in refusal.headers.items()]

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        prefix = "" if scope["type"] == "http" else "websocket."
        if prefix and "websocket.http.response" not in scope.get("extensions", {}):
            # 1013 "try again later" when the fault is ours, else 1008 policy.
            code = 1013 if refusal.status == 503 else 1008
            await send({"type": "websocket.close", "code": code})
            return
        start = {"type": f"{prefix}http.response.start", "status": refusal.status}
        await send({**start, "headers": headers})
        await send({"type": f"{prefix}http.response.body", "body": refusal.body})

    return answer


class RequireRoles:
    """Wrap an ASGI ``app`` so that it runs only for claims carrying every
    role in ``roles``; otherwise ``on_error`` answers (403 by default).
    Place it inside :class:`VerifierMiddleware`."""

    def __init__(
        self, app: ASGIApp, roles: Iterable[str], *, on_error: ErrorHandler | None = None
    ) -> None:
        self.app = app
        self.roles = tuple(roles)
        self.on_error: ErrorHandler = on_error or refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in _VERIFIED_TYPES:
            try:
                require_roles(claims_of(scope), self.roles)
            except KeyError as exc:
                raise RuntimeError("RequireRoles needs VerifierMiddleware around it.") from exc
            except JwtWardenError as error:
                await self.on_error(scope, error)(scope, receive, send)
                return
        await self.app(scope, receive, send)
