"""What every endpoint needs: the service, cookies, proxies, metrics, and
the authentication of the caller."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from ...errors import InsufficientScopeError, InvalidTokenError, StoreError, UnknownKeyError
from ...service import TokenService
from ...settings import Settings
from ...tokens.access import AccessClaims
from ...tokens.keys import KeyRing
from ...verifier import Verifier
from ...verifier.credentials import token_from_authorization
from ...verifier.dpop import ReplayCache
from ..cookies import Cookies
from ..follower import RevocationFollower
from ..metrics import Metrics
from ..presentation import check_caller, dpop_token
from ..requests import TrustedProxies, authorization, client_ip


@dataclass(slots=True)
class Context:
    service: TokenService
    settings: Settings
    cookies: Cookies
    proxies: TrustedProxies
    metrics: Metrics
    #: Keeps ``verifier.view`` current from the store's revocation feed.
    follower: RevocationFollower
    #: Checks access tokens locally: cached signatures, the followed view.
    verifier: Verifier
    _ring: KeyRing | None = field(default=None)
    #: Set on SIGTERM: long-lived streams end so shutdown is prompt.
    draining: bool = False
    #: DPoP proofs seen by this process at the protected routes.
    replay: ReplayCache = field(default_factory=ReplayCache)

    async def verify(self, token: str) -> AccessClaims:
        """An access token checked against the local view, with no store
        round trip, while the feed is fresh; against the store otherwise
        (the store is the truth, the view only a fast copy of it)."""
        service = self.service
        now = service.clock.now()
        if self.follower.staleness(now) > self.settings.max_staleness:
            if self.follower.position is None:
                try:
                    await self.follower.poll()
                except Exception:  # noqa: BLE001 - fall back to the store below
                    return await service.verify(token)
                return await self.verify(token)
            return await service.verify(token)
        ring = service.keys.ring
        if ring is not self._ring:
            self.verifier.set_keys(ring.keys)
            self._ring = ring
        try:
            return self.verifier.verify(token)
        except UnknownKeyError:
            return await service.verify(token)  # reloads the keys if one was added

    async def sync(self) -> None:
        """Pull the revocations this request just made into the view, so the
        next request on this process sees them at once. A store failure here
        only leaves the view behind; ``staleness`` then sends checks to the
        store."""
        with contextlib.suppress(StoreError):
            await self.follower.poll()

    def client_ip(self, request: Request) -> str | None:
        return client_ip(request, self.proxies)

    async def caller(self, request: Request) -> tuple[AccessClaims, bool]:
        """The verified claims of the caller and whether they came from the
        cookie. A bearer (or DPoP) header wins; a cookie-authenticated
        state-changing request must also pass the CSRF check, and a
        DPoP-bound token needs its proof (``server/presentation.py``)."""
        token, via_cookie, scheme = self._credential(request)
        claims = await self.verify(token)
        self._check_presentation(request, token, scheme, claims)
        if via_cookie:
            self.cookies.check_csrf(request, claims.sid)
        return claims, via_cookie

    async def ending(self, request: Request) -> tuple[AccessClaims, bool]:
        """Like :meth:`caller`, for a request that only ends the token's own
        session (``POST /logout``): a genuine token is enough even once it
        has expired or its session has ended, so logging out twice, or
        after the token expired, is still a success (the catalogue's E18).
        The signature is checked; revocation and expiry are not."""
        token, via_cookie, scheme = self._credential(request)
        claims = await self.service.decode(token, allow_expired=True)
        self._check_presentation(request, token, scheme, claims)
        if via_cookie:
            self.cookies.check_csrf(request, claims.sid)
        return claims, via_cookie

    def _credential(self, request: Request) -> tuple[str, bool, str]:
        """The token, whether it came from the cookie, and its scheme
        (``bearer``, the cookie's too, or ``dpop``)."""
        header = authorization(request)
        token, scheme = token_from_authorization(header), "bearer"
        if token is None and header is not None:
            token, scheme = dpop_token(header), "dpop"
        via_cookie = token is None
        if token is None:
            token, scheme = self.cookies.read(request, self.cookies.access), "bearer"
        if not token:
            raise InvalidTokenError("An access token is required.")
        return token, via_cookie, scheme

    def _check_presentation(
        self, request: Request, token: str, scheme: str, claims: AccessClaims
    ) -> None:
        check_caller(
            request,
            token=token,
            scheme=scheme,
            claims=claims,
            issuer=self.service.policy.issuer,
            now=self.service.clock.now(),
            replay=self.replay,
        )

    async def admin(self, request: Request) -> AccessClaims:
        claims, _ = await self.caller(request)
        if "admin" not in claims.roles:
            raise InsufficientScopeError("This needs the admin role.")
        return claims


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


Endpoint = Callable[[Request], Awaitable[Response]]


def revokes(endpoint: Endpoint) -> Endpoint:
    """Mark an endpoint that may revoke: after it runs (or fails, since a
    refused reuse has already revoked), the local view catches up."""

    @wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        finally:
            await context(request).sync()

    return wrapped
