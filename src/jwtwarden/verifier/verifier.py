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

A request is judged by :meth:`Verifier.verify_request`: the token, then
how it was presented (``Bearer``, or ``DPoP`` with a proof for this method
and URI, RFC 9449 §7; see :mod:`~jwtwarden.verifier.dpop`). A DPoP-bound
token is good only there: :meth:`Verifier.verify` checks a token string
alone, not its proof.

The helpers at the end (:func:`verify_presented`, :func:`token_from_headers`,
:func:`require_roles`) are what every framework integration shares, so they
all read credentials and judge roles alike.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..clock import Clock, SystemClock
from ..core.view import RevocationView
from ..errors import (
    ConfigurationError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidTokenError,
    KeysUnavailableError,
    StaleRevocationsError,
    UnknownKeyError,
    VerificationUnavailableError,
)
from ..tokens.access import AccessClaims, decode_access_token, read_header, revoked_error
from .credentials import (
    ACCESS_COOKIE,
    ACCESS_COOKIE_INSECURE,
    credentials_from_authorization,
    token_from_cookie_header,
)
from .dpop import DEFAULT_REPLAY_ENTRIES, DpopGuard
from .feed import RevocationFeed
from .jwks_client import JwksClient, KeySet, keys_from

if TYPE_CHECKING:
    import httpx

__all__ = ["Verifier", "require_roles", "token_from_headers", "verify_presented"]

logger = logging.getLogger("jwtwarden.verifier")

#: Seconds :meth:`Verifier.from_server` waits for the first snapshot.
STARTUP_TIMEOUT = 10.0


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
    closed) or judged by the view as it is (``"allow"``). That error, and
    ``KeysUnavailableError`` (a ``kid`` not held while the JWKS cannot be
    fetched), are :class:`~jwtwarden.errors.VerificationUnavailableError`:
    every integration answers them 503 with ``Retry-After``, never 401.

    Most resource servers want :meth:`from_env` or :meth:`from_server`,
    which follow the feed unless told otherwise and check the deployment
    at start-up.

    DPoP (RFC 9449): ``dpop_max_age`` is how old a proof may be, in
    seconds; ``dpop_replay_entries`` bounds the per-process cache of proofs
    seen (~200 bytes each, so ~3.8 MiB by default; see
    :class:`~jwtwarden.verifier.dpop.ReplayCache`).

    ``max_lifetime``: when set (to the issuer's ``JWTWARDEN_ACCESS_TTL``),
    a token whose ``exp - iat`` is longer is refused with ``ClaimsError``:
    the revocation feed forgets a revocation once the tokens it covered
    have expired on the issuer's lifetime, so a longer-lived token could
    outlive its revocation. Only the issuer's signing key can mint one.

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
        dpop_max_age: float = 60.0,
        dpop_replay_entries: int = DEFAULT_REPLAY_ENTRIES,
        max_lifetime: float | None = None,
    ) -> None:
        if (jwks_url is None) == (keys is None):
            raise ConfigurationError("Give the verifier exactly one of jwks_url and keys.")
        if jwks_url is not None and http_client is None:
            _require_module("httpx", "Fetching a JWKS")
        if isinstance(feed, str):
            _require_module("httpx", "Following the revocation feed")
            _require_module("httpx_sse", "Following the revocation feed")
        if cache_size < 0:
            raise ConfigurationError("cache_size must not be negative.")
        if max_lifetime is not None and not (math.isfinite(max_lifetime) and max_lifetime > 0):
            raise ConfigurationError("max_lifetime is a positive number of seconds.")
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
        #: Refuse tokens whose ``exp - iat`` exceeds this (the issuer's
        #: ``JWTWARDEN_ACCESS_TTL``), if set.
        self.max_lifetime = max_lifetime
        self.clock: Clock = clock or SystemClock()
        self._keys = KeySet()
        self._cache = _VerifiedTokens(cache_size)
        #: The DPoP proof checks and this process's replay cache.
        self.dpop = DpopGuard(self.clock, max_age=dpop_max_age, replay_entries=dpop_replay_entries)
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
    def from_server(
        cls,
        issuer: str,
        *,
        audience: str = "jwtwarden",
        client_id: str | None = None,
        client_secret: str | None = None,
        revocations: Literal["on", "off"] = "on",
        startup_timeout: float = STARTUP_TIMEOUT,
        **overrides: Any,
    ) -> Verifier:
        """A started verifier for the jwtwarden server at ``issuer``: keys
        from its JWKS and, unless ``revocations="off"``, revocations from its
        feed, authenticated with ``client_id``/``client_secret`` (printed by
        ``jwtwarden clients add NAME`` on the auth server).

        Start-up checks what a deployment can get wrong, once, with one clear
        message, instead of failing requests later:

        - a missing extra (httpx, httpx-sse) or missing credentials raise
          :class:`~jwtwarden.errors.ConfigurationError`;
        - the server's metadata must name this ``issuer`` and accept this
          ``audience``, else ``ConfigurationError``;
        - credentials the feed refuses raise ``ConfigurationError`` naming
          the HTTP status and the server's error description;
        - the first snapshot and the keys are waited for, at most
          ``startup_timeout`` seconds; an issuer that does not answer in time
          is logged as an ERROR and the verifier starts anyway, answering
          503 (never 401) until it does, so :meth:`is_fresh` is the
          readiness check.

        ``revocations="off"`` checks signatures and expiry only and logs a
        WARNING: logouts, revoked sessions and bans are then not seen until
        the tokens expire. Keyword arguments go to the constructor.
        """
        issuer = issuer.rstrip("/")
        if revocations not in ("on", "off"):
            raise ConfigurationError('revocations is "on" or "off" (JWTWARDEN_REVOCATIONS).')
        _require_module("httpx", "Fetching a JWKS")
        options: dict[str, Any] = {
            "issuer": issuer,
            "audience": audience,
            "jwks_url": f"{issuer}/.well-known/jwks.json",
        }
        if revocations == "on":
            if not client_id or not client_secret:
                raise ConfigurationError(
                    "Revocations are on, and following them needs a resource-server client: "
                    "set JWTWARDEN_CLIENT_ID and JWTWARDEN_CLIENT_SECRET to what "
                    "`jwtwarden clients add NAME` prints on the auth server (or turn "
                    "revocations off explicitly with JWTWARDEN_REVOCATIONS=off, and logouts "
                    "will not be seen)."
                )
            options["feed"] = f"{issuer}/revocations"
            options["feed_credentials"] = (client_id, client_secret)
        else:
            logger.warning(
                "jwtwarden revocations are OFF (JWTWARDEN_REVOCATIONS=off): tokens of logged-out "
                "sessions, revoked users and banned users are accepted until they expire"
            )
        options.update(overrides)
        verifier = cls(**options)
        try:
            verifier.start(startup_timeout)
        except BaseException:
            verifier.close()
            raise
        return verifier

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Verifier:
        """:meth:`from_server` for the jwtwarden server named by the
        environment: ``JWTWARDEN_ISSUER`` (default ``http://127.0.0.1:8000``),
        ``JWTWARDEN_AUDIENCE`` (default ``jwtwarden``),
        ``JWTWARDEN_CLIENT_ID``/``JWTWARDEN_CLIENT_SECRET`` (from ``jwtwarden
        clients add``; required unless ``JWTWARDEN_REVOCATIONS=off``),
        ``JWTWARDEN_MAX_STALENESS`` (seconds of feed silence before tokens
        are answered 503; default 10), ``JWTWARDEN_ACCESS_TTL`` (the
        issuer's access-token lifetime, as the server reads it: longer-lived
        tokens are refused; unset, not checked). Keyword arguments win."""
        env = os.environ if environ is None else environ
        options: dict[str, Any] = {
            "audience": env.get("JWTWARDEN_AUDIENCE", "jwtwarden"),
            "client_id": env.get("JWTWARDEN_CLIENT_ID") or None,
            "client_secret": env.get("JWTWARDEN_CLIENT_SECRET") or None,
            "revocations": env.get("JWTWARDEN_REVOCATIONS", "on").strip().lower() or "on",
        }
        for name, option in (
            ("JWTWARDEN_MAX_STALENESS", "max_staleness"),
            ("JWTWARDEN_ACCESS_TTL", "max_lifetime"),
        ):
            if env.get(name):
                try:
                    seconds = float(env[name])
                except ValueError:
                    seconds = math.nan
                if not (math.isfinite(seconds) and seconds > 0):
                    raise ConfigurationError(f"{name} is a positive number of seconds.")
                options[option] = seconds
        options.update(overrides)
        issuer = options.pop("issuer", None) or env.get("JWTWARDEN_ISSUER", "http://127.0.0.1:8000")
        return cls.from_server(issuer, **options)

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Check the deployment and wait, at most ``timeout`` seconds, for
        the keys and the first snapshot (see :meth:`from_server`)."""
        deadline = time.monotonic() + timeout
        if self.jwks is not None:
            self._check_metadata()
            if not self.refresh_keys() and not len(self._keys):
                logger.error(
                    "jwtwarden issuer %s: its keys cannot be fetched from %s (%s); requests "
                    "are answered 503 until they can",
                    self.issuer,
                    self.jwks.url,
                    self.jwks.last_error or "no usable key",
                )
        if self.feed is not None:
            failure = self.feed.wait_settled(max(0.0, deadline - time.monotonic()))
            if failure is not None and failure.is_refusal:
                raise ConfigurationError(
                    f"The revocation feed {self.feed.url} refused this resource server "
                    f"({failure}): check JWTWARDEN_CLIENT_ID and JWTWARDEN_CLIENT_SECRET, "
                    "made by `jwtwarden clients add NAME` on the auth server."
                )
            if not self.feed.wait_ready(0):
                logger.error(
                    "jwtwarden revocation feed %s sent no snapshot within %.0f s (%s); requests "
                    "are answered 503 until it does",
                    self.feed.url,
                    timeout,
                    failure or "no answer",
                )

    def _check_metadata(self) -> None:
        """The server's RFC 8414 metadata must agree with this verifier; an
        unreachable server is for :meth:`start` to report, not an error."""
        assert self.jwks is not None
        url = f"{self.issuer}/.well-known/oauth-authorization-server"
        try:
            response = self.jwks._http_client().get(url, headers={"accept": "application/json"})
            metadata = json.loads(response.content) if response.status_code == 200 else None
        except Exception as exc:  # noqa: BLE001 - any failure here is "unreachable"
            logger.debug("metadata %s: %s", url, exc)
            return
        if not isinstance(metadata, dict):
            return
        if metadata.get("issuer", "").rstrip("/") != self.issuer:
            raise ConfigurationError(
                f"The server at {self.issuer} names itself {metadata.get('issuer')!r}: set "
                "JWTWARDEN_ISSUER to that, exactly as its tokens carry it in iss."
            )
        audience = metadata.get("jwtwarden_access_token_audience")
        if isinstance(audience, str) and audience != self.audience:
            raise ConfigurationError(
                f"The server at {self.issuer} issues access tokens for the audience "
                f"{audience!r}, not {self.audience!r}: set JWTWARDEN_AUDIENCE to match, or "
                "every token would be refused."
            )

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
        """Whether tokens can be judged now: revocations are current (always,
        without a feed) and, with a JWKS URL, keys are held. What a resource
        server's readiness check reports."""
        if self.jwks is not None and not len(self._keys):
            return False
        return self.feed is None or self.feed.staleness() <= self.max_staleness

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid, unrevoked access token.

        The token string only: a DPoP-bound token (``claims.jkt``) is
        returned too, so a request is judged by :meth:`verify_request`.

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
            raise StaleRevocationsError(retry_after=max(1, math.ceil(self.max_staleness / 2)))
        cause = self.view.cause(
            sub=claims.sub, sid=claims.sid, jti=claims.jti, auth_time=claims.auth_time, now=now
        )
        if cause is not None:
            raise revoked_error(cause)
        return claims

    def verify_request(
        self,
        method: str,
        uri: str,
        authorization: str | None,
        proof: str | None = None,
        *,
        cookie: str | None = None,
        insecure_cookies: bool = False,
    ) -> AccessClaims:
        """The claims of a request's token, checked with how it came: the
        ``Authorization`` header (``Bearer`` or ``DPoP``) or the access
        cookie, and ``proof``, the ``DPoP`` header. ``method`` and ``uri``
        are the request's as clients reach it (the public URL behind a
        proxy; the query is ignored).

        Raises what :meth:`verify` raises, ``DpopBoundTokenError`` for a
        bound token without the DPoP scheme, and ``InvalidDpopProofError``
        for a missing, bad or replayed proof.
        """
        return verify_presented(
            self,
            self.dpop,
            method=method,
            uri=uri,
            authorization=authorization,
            proof=proof,
            cookie=cookie,
            insecure_cookies=insecure_cookies,
        )

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
        try:
            return decode_access_token(
                token,
                find_key,
                issuer=self.issuer,
                audience=self.audience,
                now=now,
                leeway=self.leeway,
                max_lifetime=self.max_lifetime,
            )
        except UnknownKeyError:
            # A kid we do not hold while the JWKS cannot be fetched: maybe a
            # new key we cannot see yet. Not the client's fault to know.
            if self.jwks is not None and self.jwks.is_failing():
                retry = max(1, math.ceil(self.jwks.retry_after()))
                raise KeysUnavailableError(retry_after=retry) from None
            raise
        except ConfigurationError as exc:
            # A deployment error met at request time (start-up normally finds
            # it): the operator's to fix, so logged, and 503 for the client.
            logger.error("jwtwarden verifier misconfigured: %s", exc.description)
            raise VerificationUnavailableError(retry_after=30) from exc


def _require_module(name: str, purpose: str) -> None:
    """Raise at construction, not per request, when an extra is missing."""
    if importlib.util.find_spec(name) is None:
        raise ConfigurationError(
            f"{purpose} needs {name.replace('_', '-')}: pip install 'jwtwarden[verifier]'."
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


class TokenChecker(Protocol):
    """What checks a token string: a :class:`Verifier`, or the
    ``jwtwarden.django`` app's token service."""

    def verify(self, token: str) -> AccessClaims: ...


def verify_presented(
    checker: TokenChecker,
    guard: DpopGuard,
    *,
    method: str,
    uri: str,
    authorization: str | None,
    proof: str | None,
    cookie: str | None = None,
    insecure_cookies: bool = False,
) -> AccessClaims:
    """:meth:`Verifier.verify_request` with any ``checker`` of token
    strings and DPoP ``guard``: the token first (so revocations are judged
    as always), then its presentation."""
    scheme, token = credentials_from_headers(
        authorization, cookie, insecure_cookies=insecure_cookies
    )
    claims = checker.verify(token)
    guard.check(scheme=scheme, token=token, jkt=claims.jkt, proof=proof, method=method, uri=uri)
    return claims


def credentials_from_headers(
    authorization: str | None, cookie: str | None, *, insecure_cookies: bool = False
) -> tuple[str, str]:
    """``(scheme, token)`` of a request: a ``Bearer`` or ``DPoP`` header
    wins (RFC 6750 §2.1, RFC 9449 §7.1), else the access cookie
    (``__Host-jwtwarden-at``, and also ``jwtwarden-at`` when
    ``insecure_cookies``, for plain-HTTP development), whose scheme is
    ``"bearer"``.

    Raises :class:`~jwtwarden.errors.InvalidTokenError` when none holds one.
    """
    credentials = credentials_from_authorization(authorization)
    if credentials is not None:
        return credentials
    names = (ACCESS_COOKIE, ACCESS_COOKIE_INSECURE) if insecure_cookies else (ACCESS_COOKIE,)
    token = token_from_cookie_header(cookie, names)
    if token is None:
        raise InvalidTokenError("No access token was sent.")
    return "bearer", token


def token_from_headers(
    authorization: str | None, cookie: str | None, *, insecure_cookies: bool = False
) -> str:
    """The bearer token of a request: a ``Bearer`` header wins (RFC 6750
    §2.1), else the access cookie (see :func:`credentials_from_headers`).

    Raises :class:`~jwtwarden.errors.InvalidTokenError` when none holds one,
    and for a ``DPoP`` header: that token is good only with its proof,
    through :func:`verify_presented`.
    """
    scheme, token = credentials_from_headers(
        authorization, cookie, insecure_cookies=insecure_cookies
    )
    if scheme != "bearer":
        raise InvalidTokenError("A DPoP token is checked with its proof (verify_request).")
    return token


def require_roles(claims: AccessClaims, roles: Iterable[str]) -> AccessClaims:
    """``claims`` when they carry every role in ``roles``.

    Raises :class:`~jwtwarden.errors.InsufficientScopeError` otherwise.
    """
    missing = [role for role in roles if role not in claims.roles]
    if missing:
        raise InsufficientScopeError(f"The access token lacks the role {missing[0]!r}.")
    return claims
