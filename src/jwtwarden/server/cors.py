"""CORS for front ends on other origins (``JWTWARDEN_ALLOWED_ORIGINS``).

A single-page app served from ``https://app.example.com`` may use the browser
routes of ``https://auth.example.com`` with its cookies: the account routes
(``/me``, ``/sessions``, ``/logout``, ``/password``), browser mode
(``/session/*``) and the page's assets (``/account/*``); and, as a
bearer-mode app with DPoP-bound tokens does (``clients/js/dpop.js``), the
token endpoint and token revocation (``/token``, ``/revoke``), sending
``Authorization: DPoP …`` and a ``DPoP`` proof, and reading ``DPoP-Nonce``.
Only for the origins
listed, each answered with its own name, never ``*`` (which browsers refuse
with credentials anyway), and ``Vary: Origin``; any other origin gets no CORS
headers at all, so its scripts cannot read a response. The RFC endpoints and
introspection (a resource server's, never a browser's) and the admin API
are never cross-origin. CSRF is unchanged: the listed origins
pass ``Cookies.check_origin`` and send ``X-CSRF-Token`` like the page does.

The cookies themselves are ``SameSite``: they reach the server from another
origin of the same site (``app.example.com`` and ``auth.example.com``), not
from another site. Starlette's ``CORSMiddleware`` writes the headers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from .cookies import CSRF_HEADER

__all__ = ["BROWSER_PATHS", "CrossOrigin", "cross_origin", "parse_origins"]

#: Path prefixes a listed front-end origin may call with credentials.
BROWSER_PATHS = (
    "/session",
    "/me",
    "/sessions",
    "/logout",
    "/password",
    "/account",
    "/token",
    "/revoke",
)


def parse_origins(text: str) -> frozenset[str]:
    """The comma-separated origins of ``JWTWARDEN_ALLOWED_ORIGINS``, as a
    browser writes them in ``Origin`` (``scheme://host[:port]``, lower case).
    Raises ValueError for a wildcard, a path, or anything but http(s)."""
    found = set()
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        parts = urlsplit(entry.lower())
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or "*" in entry
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ValueError(f"not an origin (scheme://host[:port]): {entry!r}")
        found.add(f"{parts.scheme}://{parts.netloc}")
    return frozenset(found)


def cross_origin(app: ASGIApp, origins: frozenset[str]) -> ASGIApp:
    """Wrap ``app`` so the browser routes answer CORS for ``origins`` only."""
    if not origins:
        return app
    cors = CORSMiddleware(
        app,
        allow_origins=sorted(origins),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["content-type", CSRF_HEADER, "authorization", "dpop"],
        expose_headers=["DPoP-Nonce"],
        allow_credentials=True,
        max_age=600,
    )

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_browser_path(scope["path"]):
            origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
            if origin is not None and origin.decode("latin-1") in origins:
                await cors(scope, receive, send)
                return
        await app(scope, receive, send)

    return wrapped


def _is_browser_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in BROWSER_PATHS)


class CrossOrigin:
    """:func:`cross_origin` as Starlette middleware (``app.add_middleware``)."""

    def __init__(self, app: ASGIApp, origins: frozenset[str]) -> None:
        self._app = cross_origin(app, origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)
