"""What every endpoint needs: the service, cookies, proxies, metrics, and
the authentication of the caller."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ...errors import InsufficientScopeError, InvalidTokenError
from ...service import TokenService
from ...settings import Settings
from ...tokens.access import AccessClaims
from ...verifier.credentials import token_from_authorization
from ..cookies import Cookies
from ..metrics import Metrics
from ..requests import TrustedProxies, client_ip


@dataclass(slots=True)
class Context:
    service: TokenService
    settings: Settings
    cookies: Cookies
    proxies: TrustedProxies
    metrics: Metrics

    def client_ip(self, request: Request) -> str | None:
        return client_ip(request, self.proxies)

    async def caller(self, request: Request) -> tuple[AccessClaims, bool]:
        """The verified claims of the caller and whether they came from the
        cookie. A bearer header wins; a cookie-authenticated state-changing
        request must also pass the CSRF check."""
        token = token_from_authorization(request.headers.get("authorization"))
        via_cookie = token is None
        if token is None:
            token = request.cookies.get(self.cookies.access)
        if not token:
            raise InvalidTokenError("An access token is required.")
        claims = await self.service.verify(token)
        if via_cookie:
            self.cookies.check_csrf(request, claims.sid)
        return claims, via_cookie

    async def admin(self, request: Request) -> AccessClaims:
        claims, _ = await self.caller(request)
        if "admin" not in claims.roles:
            raise InsufficientScopeError("This needs the admin role.")
        return claims


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx
