"""Flask: an extension holding the verifier, and a view decorator.

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
``app.config["JWTWARDEN_INSECURE_COOKIES"] = True`` also accepts the
plain-HTTP development cookie.

Flask is imported here only; ``jwtwarden.verifier`` never imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request

from ..errors import ConfigurationError, JwtWardenError
from ..tokens.access import AccessClaims
from .credentials import refusal_for
from .verifier import Verifier, require_roles, token_from_headers

__all__ = ["JwtWarden", "require_token"]

View = TypeVar("View", bound=Callable[..., Any])
_EXTENSION = "jwtwarden"


class JwtWarden:
    """The Flask extension: one :class:`~jwtwarden.Verifier` per app.

    ``verifier`` may be given here or to :meth:`init_app` (app factories).
    """

    def __init__(self, app: Flask | None = None, *, verifier: Verifier | None = None) -> None:
        self.verifier = verifier
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, verifier: Verifier | None = None) -> None:
        """Register on ``app``. Raises
        :class:`~jwtwarden.errors.ConfigurationError` without a verifier."""
        chosen = verifier or self.verifier
        if chosen is None:
            raise ConfigurationError("JwtWarden needs a verifier.")
        self.verifier = chosen
        app.config.setdefault("JWTWARDEN_INSECURE_COOKIES", False)
        app.extensions[_EXTENSION] = self

    def authenticate(self) -> AccessClaims:
        """The claims of the current request's token. Raises what the
        verifier raises, or ``InvalidTokenError`` when no token came."""
        assert self.verifier is not None
        token = token_from_headers(
            request.headers.get("Authorization"),
            request.headers.get("Cookie"),
            insecure_cookies=bool(current_app.config["JWTWARDEN_INSECURE_COOKIES"]),
        )
        return self.verifier.verify(token)


def refusal_response(error: JwtWardenError) -> Response:
    """The RFC 6750 refusal as a Flask response."""
    refusal = refusal_for(error)
    return Response(refusal.body, status=refusal.status, headers=refusal.headers)


def require_token(roles: Iterable[str] = ()) -> Callable[[View], View]:
    """Decorate a view so it runs only for a valid token carrying every role
    in ``roles``, with the claims on ``flask.g.jwtwarden_claims``.

    Raises ``RuntimeError`` at request time if :class:`JwtWarden` was not
    initialised on the app.
    """
    if callable(roles):
        raise TypeError("Use @require_token() or @require_token(roles=[...]).")
    required = tuple(roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                claims = require_roles(_extension().authenticate(), required)
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
