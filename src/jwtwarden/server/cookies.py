"""Browser mode: tokens in cookies, never in a response body, and CSRF.

- ``__Host-jwtwarden-at`` (the access token): HttpOnly; Secure; SameSite=Lax;
  Path=/. Scripts cannot read it, so XSS cannot steal it; ``__Host-`` forbids
  a Domain, so a sibling subdomain can neither plant nor read it.
- ``__Secure-jwtwarden-rt`` (the refresh token): HttpOnly; Secure;
  SameSite=Strict; Path=/session/refresh. Sent only to the refresh route,
  never with ordinary requests.
- ``__Host-jwtwarden-csrf``: Secure; SameSite=Strict; Path=/, readable by the
  page's own JavaScript, which echoes it in ``X-CSRF-Token``.

CSRF: every state-changing request authenticated by cookie must carry
``X-CSRF-Token`` equal to ``HMAC(secret, sid)`` for *its own* session, and
an ``Origin`` (when sent) that is the server's or an allowed one. A form,
``text/plain`` or multipart POST cannot set the header, and a cookie planted
from a sibling subdomain cannot satisfy it: the token is checked against the
session, not against the cookie. With ``--insecure-cookies`` (plain-HTTP
localhost only) the prefixes and ``Secure`` are dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidRequestError
from ..service import TokenPair
from .errors import HttpError

__all__ = ["CSRF_HEADER", "MAX_COOKIE", "REFRESH_PATH", "Cookies"]

REFRESH_PATH = "/session/refresh"
CSRF_HEADER = "x-csrf-token"
#: The longest cookie value read (browsers drop cookies past 4 KiB anyway).
MAX_COOKIE = 8192
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Cookies:
    """Cookie names and flags for one server, and the CSRF rule."""

    def __init__(self, *, insecure: bool, secret: Callable[[], bytes], origins: set[str]) -> None:
        self.insecure = insecure
        self.access = "jwtwarden-at" if insecure else "__Host-jwtwarden-at"
        self.refresh = "jwtwarden-rt" if insecure else "__Secure-jwtwarden-rt"
        self.csrf = "jwtwarden-csrf" if insecure else "__Host-jwtwarden-csrf"
        self._secret = secret
        self._origins = origins

    def csrf_token(self, sid: str) -> str:
        digest = hmac.new(self._secret(), b"csrf\x00" + sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def set_tokens(self, response: Response, pair: TokenPair) -> None:
        secure = not self.insecure
        # The access cookie lives as long as the session, not as long as its
        # token: once the token expires the browser still sends it, so
        # ``/session/logout`` can name the session to end (the token itself
        # is refused everywhere else once expired).
        response.set_cookie(
            self.access,
            pair.access_token,
            max_age=max(pair.expires_in, pair.refresh_expires_in),
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
        response.set_cookie(
            self.refresh,
            pair.refresh_token,
            max_age=pair.refresh_expires_in,
            path=REFRESH_PATH,
            secure=secure,
            httponly=True,
            samesite="strict",
        )
        response.set_cookie(
            self.csrf,
            self.csrf_token(pair.sid),
            max_age=pair.refresh_expires_in,
            path="/",
            secure=secure,
            httponly=False,
            samesite="strict",
        )

    def clear(self, response: Response) -> None:
        secure = not self.insecure
        for name, path, httponly in (
            (self.access, "/", True),
            (self.refresh, REFRESH_PATH, True),
            (self.csrf, "/", False),
        ):
            response.delete_cookie(
                name,
                path=path,
                secure=secure,
                httponly=httponly,
                samesite="lax" if name == self.access else "strict",
            )

    def check_csrf(self, request: Request, sid: str) -> None:
        """Refuse (403) a state-changing cookie request without the session's
        CSRF token or from a foreign origin."""
        if request.method in _SAFE_METHODS:
            return
        self.check_origin(request)
        presented = request.headers.get(CSRF_HEADER, "")
        # Compared as bytes: ``compare_digest`` raises TypeError on a str with
        # non-ASCII characters, which any header may hold (it was a 500).
        expected = self.csrf_token(sid).encode()
        if len(presented) > 128 or not hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"), expected
        ):
            raise HttpError(403, "invalid_request", "Missing or wrong X-CSRF-Token header.")

    def check_origin(self, request: Request) -> None:
        """Refuse (403) a request a browser marks as coming from elsewhere."""
        origin = request.headers.get("origin")
        if origin is not None and origin not in self._origins:
            raise HttpError(403, "invalid_request", "Cross-origin request refused.")
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise HttpError(403, "invalid_request", "Cross-site request refused.")

    def read(self, request: Request, name: str) -> str | None:
        """The cookie ``name``, if sent once. Sent twice is refused (400):
        the ``__Secure-`` refresh cookie may be planted by a sibling
        subdomain (cookie tossing, 6265bis §8.6), and which copy a parser
        keeps would then decide whose session this is."""
        prefix = name + "="
        sent = [
            part
            for header in request.headers.getlist("cookie")
            for part in header.split(";")
            if part.strip().startswith(prefix)
        ]
        if len(sent) > 1:
            raise InvalidRequestError(f"The cookie {name} was sent more than once.")
        return request.cookies.get(name) if sent else None

    def require_cookie(self, request: Request, name: str) -> str:
        value = self.read(request, name)
        if not value or len(value) > MAX_COOKIE:
            raise InvalidRequestError("The session cookie is missing.")
        return value
