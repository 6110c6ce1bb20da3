"""Verifier: signature from cached keys, revocation from a local view.

The request path does no IO: a token is checked against keys held in memory
and against a :class:`~jwtwarden.core.view.RevocationView` that something
else keeps current (a snapshot loaded at start, then the revocation feed).
The one exception is a JWKS refetch (``jwks_url=``), rate-limited in
:mod:`~jwtwarden.verifier.jwks_client`. It needs only ``core`` and
``tokens``, so a resource server never imports a store.

A token presented again is found in a cache of verified tokens, keyed by
the exact token string, which skips the signature and the JSON parsing:
the same string can only carry the same claims. Expiry and revocation
depend on *now* and on the view, so they are checked on every call, hit or
miss (simplejwt re-reads its blacklist per request for the same reason).
A withdrawn key invalidates the tokens it vouched for.

The helpers at the end (:func:`token_from_headers`, :func:`require_roles`)
are what every framework integration shares, so they all read credentials
and judge roles alike.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ..clock import Clock, SystemClock
from ..core.view import RevocationView
from ..errors import (
    ConfigurationError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidTokenError,
    StaleRevocationsError,
)
from ..tokens.access import AccessClaims, decode_access_token, read_header, revoked_error
from .credentials import (
    ACCESS_COOKIE,
    ACCESS_COOKIE_INSECURE,
    token_from_authorization,
    token_from_cookie_header,
)
from .feed import RevocationFeed
from .jwks_client import JwksClient, KeySet, keys_from

if TYPE_CHECKING:
    import httpx

__all__ = ["Verifier", "require_roles", "token_from_headers"]


class Verifier:
    """Verify jwtwarden access tokens offline.

    Keys come from exactly one of ``jwks_url`` (fetched on first use, then
    refreshed when older than ``jwks_max_age`` seconds and on an unknown
    ``kid``, at most once per ``jwks_refetch_interval``; ``http_client`` is
    an ``httpx.Client`` to fetch with) or ``keys``: a JWK Set document or
    verification keys (a service's ``SigningKey`` objects qualify).

    ``view`` holds the revocations; without one, only signature and claims
    are checked. ``leeway`` is the clock leeway in seconds, ``clock`` the
    source of time. ``cache_size`` bounds the cache of verified tokens
    (least recently used first out); ``0`` disables it.

    ``feed`` keeps the view current: the server's ``/revocations`` URL (with
    ``feed_credentials=(client_id, client_secret)`` from ``jwtwarden clients
    add``) or a :class:`~jwtwarden.verifier.feed.RevocationFeed`; it starts
    at once on a background thread. When the feed has been silent for more
    than ``max_staleness`` seconds, tokens are rejected with
    ``StaleRevocationsError`` (``on_stale="reject"``, the default: fail
    closed) or judged by the view as it is (``"allow"``).

    Raises :class:`~jwtwarden.errors.ConfigurationError` for both or neither
    of ``jwks_url`` and ``keys``, or a negative ``cache_size``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        keys: Mapping[str, Any] | Iterable[Any] | None = None,
        view: RevocationView | None = None,
        leeway: float = 0.0,
        clock: Clock | None = None,
        jwks_refetch_interval: float = 30.0,
        jwks_max_age: float = 300.0,
        cache_size: int = 10_000,
        http_client: httpx.Client | None = None,
        feed: str | RevocationFeed | None = None,
        feed_credentials: tuple[str, str] | None = None,
        max_staleness: float = 10.0,
        on_stale: Literal["reject", "allow"] = "reject",
    ) -> None:
        if (jwks_url is None) == (keys is None):
            raise ConfigurationError("Give the verifier exactly one of jwks_url and keys.")
        if cache_size < 0:
            raise ConfigurationError("cache_size must not be negative.")
        if on_stale not in ("reject", "allow"):
            raise ConfigurationError('on_stale is "reject" or "allow".')
        self.issuer = issuer
        self.audience = audience
        if view is None and isinstance(feed, RevocationFeed):
            view = feed.view
        self.view = view if view is not None else RevocationView()
        #: Seconds the feed may be silent before ``on_stale`` applies.
        self.max_staleness = max_staleness
        self.on_stale = on_stale
        #: The revocation feed keeping ``view`` current, if any.
        self.feed = _feed(feed, feed_credentials, self.view, clock)
        self.leeway = leeway
        self.clock: Clock = clock or SystemClock()
        self._keys = KeySet()
        self._cache = _VerifiedTokens(cache_size)
        #: The JWKS fetcher, when keys come from ``jwks_url``.
        self.jwks: JwksClient | None = None
        if jwks_url is not None:
            self.jwks = JwksClient(
                jwks_url,
                self._keys,
                clock=self.clock,
                refetch_interval=jwks_refetch_interval,
                max_age=jwks_max_age,
                http_client=http_client,
            )
        if keys is not None:
            self.set_keys(keys)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Verifier:
        """A verifier for the jwtwarden server named by the environment:
        ``JWTWARDEN_ISSUER`` (default ``http://127.0.0.1:8000``),
        ``JWTWARDEN_AUDIENCE`` (default ``jwtwarden``), keys from its JWKS,
        and, when ``JWTWARDEN_CLIENT_ID``/``JWTWARDEN_CLIENT_SECRET`` (from
        ``jwtwarden clients add``) are set, revocations from its feed. Without
        them only signatures and expiry are checked. Keyword arguments win."""
        env = os.environ if environ is None else environ
        issuer = env.get("JWTWARDEN_ISSUER", "http://127.0.0.1:8000").rstrip("/")
        options: dict[str, Any] = {
            "issuer": issuer,
            "audience": env.get("JWTWARDEN_AUDIENCE", "jwtwarden"),
            "jwks_url": f"{issuer}/.well-known/jwks.json",
        }
        client_id = env.get("JWTWARDEN_CLIENT_ID")
        if client_id:
            options["feed"] = f"{issuer}/revocations"
            options["feed_credentials"] = (client_id, env.get("JWTWARDEN_CLIENT_SECRET", ""))
        options.update(overrides)
        return cls(**options)

    def set_keys(self, keys: Mapping[str, Any] | Iterable[Any]) -> None:
        """Replace the key set (a JWKS document or key objects with ``kid``).
        Cached tokens signed by a key that is gone are verified afresh."""
        self._keys.replace(keys_from(keys))

    def refresh_keys(self) -> bool:
        """Fetch the JWKS now (still at most once per refetch interval), e.g.
        at start-up; whether new keys were installed. ``False`` with static
        keys."""
        return self.jwks.refresh() if self.jwks is not None else False

    def close(self) -> None:
        """Stop the feed and release the HTTP client of the JWKS, if any."""
        if self.feed is not None:
            self.feed.stop()
        if self.jwks is not None:
            self.jwks.close()

    def is_fresh(self) -> bool:
        """Whether revocations are current (always, without a feed): what a
        resource server's readiness check reports."""
        return self.feed is None or self.feed.staleness() <= self.max_staleness

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid, unrevoked access token.

        Raises an :class:`~jwtwarden.errors.InvalidTokenError` subclass per
        cause: malformed, unknown key, bad signature, claims, expired, denied,
        session revoked, cutoff, banned.
        """
        now = self.clock.now()
        version = self._keys.version
        claims = self._cache.get(token, version) if type(token) is str else None
        if claims is None:
            claims = self._decode(token, now)
            self._cache.put(token, claims, version)
        elif now >= claims.exp + self.leeway:
            self._cache.discard(token)
            raise ExpiredTokenError()
        if (
            self.feed is not None
            and self.on_stale == "reject"
            and self.feed.staleness(now) > self.max_staleness
        ):
            raise StaleRevocationsError()
        cause = self.view.cause(
            sub=claims.sub, sid=claims.sid, jti=claims.jti, auth_time=claims.auth_time, now=now
        )
        if cause is not None:
            raise revoked_error(cause)
        return claims

    def needs_io(self, token: str) -> bool:
        """Whether :meth:`verify` may fetch the JWKS for ``token`` now, so an
        async caller can run it in a thread instead of on the event loop."""
        if self.jwks is None:
            return False
        if type(token) is str and self._cache.get(token, self._keys.version) is not None:
            return False
        try:
            kid = read_header(token).get("kid")
        except InvalidTokenError:
            return False
        return isinstance(kid, str) and self.jwks.is_fetch_due(kid)

    def _decode(self, token: str, now: float) -> AccessClaims:
        find_key = self.jwks.find if self.jwks is not None else self._keys.get
        return decode_access_token(
            token,
            find_key,
            issuer=self.issuer,
            audience=self.audience,
            now=now,
            leeway=self.leeway,
        )


def _feed(
    feed: str | RevocationFeed | None,
    credentials: tuple[str, str] | None,
    view: RevocationView,
    clock: Clock | None,
) -> RevocationFeed | None:
    if feed is None or isinstance(feed, RevocationFeed):
        if feed is not None and feed.view is not view:
            raise ConfigurationError("Give the feed the verifier's view (or no view at all).")
        return feed.start() if feed is not None else None
    if credentials is None:
        raise ConfigurationError("A feed URL needs feed_credentials=(client_id, client_secret).")
    return RevocationFeed(
        feed, client_id=credentials[0], client_secret=credentials[1], view=view, clock=clock
    ).start()


class _VerifiedTokens:
    """Claims of tokens whose signature and claims passed, by token string.

    Each entry remembers the key-set version it was verified under, so a
    withdrawn key empties it in effect. Reads are single C-level
    ``OrderedDict`` calls (atomic under the GIL, as the revocation view's
    reads are) and take no lock; writes take one.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[AccessClaims, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, version: int) -> AccessClaims | None:
        entry = self._entries.get(token)
        if entry is None or entry[1] != version:
            return None
        # KeyError: evicted by another thread meanwhile; still verified.
        with contextlib.suppress(KeyError):
            self._entries.move_to_end(token)
        return entry[0]

    def put(self, token: str, claims: AccessClaims, version: int) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._entries[token] = (claims, version)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)


def token_from_headers(
    authorization: str | None, cookie: str | None, *, insecure_cookies: bool = False
) -> str:
    """The access token of a request: a ``Bearer`` header wins (RFC 6750
    §2.1), else the access cookie (``__Host-jwtwarden-at``, and also
    ``jwtwarden-at`` when ``insecure_cookies``, for plain-HTTP development).

    Raises :class:`~jwtwarden.errors.InvalidTokenError` when neither holds one.
    """
    token = token_from_authorization(authorization)
    if token is None:
        names = (ACCESS_COOKIE, ACCESS_COOKIE_INSECURE) if insecure_cookies else (ACCESS_COOKIE,)
        token = token_from_cookie_header(cookie, names)
    if token is None:
        raise InvalidTokenError("No access token was sent.")
    return token


def require_roles(claims: AccessClaims, roles: Iterable[str]) -> AccessClaims:
    """``claims`` when they carry every role in ``roles``.

    Raises :class:`~jwtwarden.errors.InsufficientScopeError` otherwise.
    """
    missing = [role for role in roles if role not in claims.roles]
    if missing:
        raise InsufficientScopeError(f"The access token lacks the role {missing[0]!r}.")
    return claims
