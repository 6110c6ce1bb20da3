"""Flask: an extension holding the verifier (or an embedded service), a
view decorator, a session starter for the app's own users, and a user
loader.

::

    warden = JwtWarden(verifier=verifier)     # or JwtWarden(app, verifier=...)
    warden.init_app(app)

    @app.get("/admin")
    @require_token(roles=["admin"])
    def admin():
        return {"sub": g.jwtwarden_claims.sub}

:func:`require_token` reads the ``Bearer`` header first, then the access
cookie, puts the claims on ``flask.g.jwtwarden_claims`` and otherwise
answers 401 ``invalid_token`` or 403 ``insufficient_scope`` with the RFC
6750 challenge, or 503 ``temporarily_unavailable`` with ``Retry-After`` when
tokens cannot be judged now (revocations out of date, keys unreachable).
``@require_token(optional=True)`` also runs the view for a request without
any token, with ``g.jwtwarden_claims = None`` (a token that is present but
bad is still refused: it is never taken for "anonymous").
``app.config["JWTWARDEN_INSECURE_COOKIES"] = True`` also accepts the
plain-HTTP development cookie.

DPoP (RFC 9449): ``Authorization: DPoP <token>`` with its ``DPoP`` proof is
accepted; the proof must name ``request.method`` and ``request.base_url``
(werkzeug's view of the URL, without the query). Behind a proxy, wrap the
app in werkzeug's ``ProxyFix`` (``app.wsgi_app = ProxyFix(app.wsgi_app,
x_proto=1, x_host=1)``, one per proxy that sets ``X-Forwarded-Proto`` and
``X-Forwarded-Host``) so that URL is the public one; without it the
``Host`` header and the WSGI scheme are used, and no forwarded header is
read. Refusals of a DPoP request carry the ``DPoP`` challenge.

An app with its own user table starts jwtwarden sessions itself: give the
extension a ``service`` (a :class:`jwtwarden.sync.TokenService` on the
store ``jwtwarden serve`` uses, or its own) and call
:func:`create_session` after checking the user's password::

    warden = JwtWarden(app, service=TokenService.open(Settings()))

    @warden.user_loader
    def load_user(claims):                  # the app's own user, by sub
        return db.get_user(int(claims.sub))

    @app.post("/login")
    def login():
        user = check_password(...)          # the app's own check
        pair = create_session(str(user.id), roles=user.roles)
        return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}

    @app.get("/me")
    @require_token()
    def me():
        return {"name": current_user.name}  # loaded once per request, lazily

Without a ``verifier``, tokens are checked by ``service.verify`` (against
the store, revocations included). Flask is imported here only;
``jwtwarden.verifier`` never imports it, nor the service.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, cast

from flask import Flask, Response, current_app, g, has_request_context, request
from werkzeug.local import LocalProxy

from ..clock import SystemClock
from ..errors import ConfigurationError, JwtWardenError
from ..tokens.access import AccessClaims
from .credentials import refusal_for, sends_credentials, uses_dpop
from .dpop import DpopGuard
from .verifier import Verifier, require_roles, verify_presented

__all__ = ["EmbeddedService", "JwtWarden", "create_session", "current_user", "require_token"]

View = TypeVar("View", bound=Callable[..., Any])
UserLoader = Callable[[AccessClaims], Any]
_EXTENSION = "jwtwarden"
#: Where a request's loaded user is kept (``flask.g``), once per request.
_USER = "jwtwarden_user"


class EmbeddedService(Protocol):
    """What the extension uses of a :class:`jwtwarden.sync.TokenService`
    (named structurally, so this module never imports the auth server)."""

    def start_session(
        self,
        sub: str,
        *,
        roles: Iterable[str] = ...,
        claims: Mapping[str, object] | None = ...,
        ip: str | None = ...,
        user_agent: str | None = ...,
        client_id: str = ...,
    ) -> Any: ...

    def verify(self, access_token: str) -> AccessClaims: ...


class JwtWarden:
    """The Flask extension: one :class:`~jwtwarden.Verifier` per app.

    ``verifier`` may be given here or to :meth:`init_app` (app factories).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        verifier: Verifier | None = None,
        service: EmbeddedService | None = None,
    ) -> None:
        self.verifier = verifier
        #: The service :func:`create_session` starts sessions with, if any.
        self.service = service
        self._load_user: UserLoader | None = None
        if app is not None:
            self.init_app(app)

    def init_app(
        self,
        app: Flask,
        verifier: Verifier | None = None,
        *,
        service: EmbeddedService | None = None,
    ) -> None:
        """Register on ``app``. Raises
        :class:`~jwtwarden.errors.ConfigurationError` without a verifier or
        a service to check tokens with."""
        self.verifier = verifier or self.verifier
        self.service = service or self.service
        if self.verifier is None and self.service is None:
            raise ConfigurationError("JwtWarden needs a verifier (or an embedded service).")
        #: The DPoP checks: the verifier's, or a process-wide one on the
        #: service's clock.
        self.dpop = (
            self.verifier.dpop
            if self.verifier is not None
            else DpopGuard(getattr(self.service, "clock", None) or SystemClock())
        )
        app.config.setdefault("JWTWARDEN_INSECURE_COOKIES", False)
        app.extensions[_EXTENSION] = self

    def user_loader(self, load: UserLoader) -> UserLoader:
        """Register ``load(claims) -> user or None``, the app's own user for
        a verified token; :data:`current_user` calls it at most once per
        request, when first used. Usable as a decorator."""
        self._load_user = load
        return load

    def authenticate(self) -> AccessClaims:
        """The claims of the current request's token, checked with its DPoP
        proof when it is bound. Raises what the verifier raises, or
        ``InvalidTokenError`` when no token came."""
        checker = self.verifier if self.verifier is not None else self.service
        assert checker is not None
        return verify_presented(
            checker,
            self.dpop,
            method=request.method,
            uri=request.base_url,
            authorization=request.headers.get("Authorization"),
            # Two DPoP headers join into one invalid proof (RFC 9449 §4.3).
            proof=",".join(request.headers.getlist("DPoP")) or None,
            cookie=request.headers.get("Cookie"),
            insecure_cookies=bool(current_app.config["JWTWARDEN_INSECURE_COOKIES"]),
        )

    def load_user(self) -> Any:
        """The current request's user (``None`` without claims, without a
        loader, or when the loader finds none), loaded once per request."""
        if _USER not in g:
            claims = g.get("jwtwarden_claims")
            found = None
            if claims is not None and self._load_user is not None:
                found = self._load_user(claims)
            setattr(g, _USER, found)
        return g.get(_USER)


def create_session(
    user_id: str,
    *,
    roles: Iterable[str] = (),
    claims: Mapping[str, object] | None = None,
) -> Any:
    """Start a jwtwarden session for the app's own user ``user_id`` (the
    service's ``start_session``), with the request's client IP and user
    agent when called in a request; returns its token pair. Raises
    ``RuntimeError`` if the extension has no ``service``, and what
    ``start_session`` raises (InvalidRequestError, InvalidGrantError)."""
    service = _extension().service
    if service is None:
        raise RuntimeError("create_session needs JwtWarden(service=jwtwarden.sync.TokenService).")
    ip = request.remote_addr if has_request_context() else None
    agent = request.headers.get("User-Agent") if has_request_context() else None
    return service.start_session(user_id, roles=roles, claims=claims, ip=ip, user_agent=agent)


#: The current request's user, from the :meth:`JwtWarden.user_loader`. A
#: proxy (Werkzeug's ``LocalProxy``), so it is never ``is None`` itself:
#: test ``if not current_user`` (falsy without a verified token or a user).
current_user: Any = LocalProxy(lambda: _extension().load_user())


def refusal_response(error: JwtWardenError) -> Response:
    """The RFC 6750 (or RFC 9449, for a DPoP request) refusal as a Flask
    response."""
    dpop = has_request_context() and uses_dpop(request.headers.get("Authorization"))
    refusal = refusal_for(error, dpop=dpop)
    return Response(refusal.body, status=refusal.status, headers=refusal.headers)


def require_token(roles: Iterable[str] = (), *, optional: bool = False) -> Callable[[View], View]:
    """Decorate a view so it runs only for a valid token carrying every role
    in ``roles``, with the claims on ``flask.g.jwtwarden_claims``.
    ``optional=True`` also runs it for a request that sends no credential
    at all (no ``Authorization`` header, no access cookie), with
    ``g.jwtwarden_claims = None``; a credential that is sent is checked as
    always, so a bad one is a 401, never "anonymous".

    Raises ``RuntimeError`` at request time if :class:`JwtWarden` was not
    initialised on the app.
    """
    if callable(roles):
        raise TypeError("Use @require_token() or @require_token(roles=[...]).")
    required = tuple(roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            extension = _extension()
            if optional and not sends_credentials(
                request.headers.get("Authorization"),
                request.headers.get("Cookie"),
                bool(current_app.config["JWTWARDEN_INSECURE_COOKIES"]),
            ):
                g.jwtwarden_claims = None
                return current_app.ensure_sync(view)(*args, **kwargs)
            try:
                claims = require_roles(extension.authenticate(), required)
            except JwtWardenError as error:
                return refusal_response(error)
            g.jwtwarden_claims = claims
            return current_app.ensure_sync(view)(*args, **kwargs)

        return cast(View, wrapper)

    return decorate


def _extension() -> JwtWarden:
    extension = current_app.extensions.get(_EXTENSION)
    if not isinstance(extension, JwtWarden):
        raise RuntimeError("JwtWarden is not initialised on this app (JwtWarden.init_app).")
    return extension
