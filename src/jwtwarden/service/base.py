"""The part of TokenService every other part builds on: its collaborators,
construction from settings, access-token verification, the rotation
judgement, events and housekeeping."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..bootstrap import parts_from
from ..clock import Clock, SystemClock
from ..core import inputs
from ..core.policy import Policy
from ..core.revocation import revocation_cause
from ..core.rotation import RotationDecision, decide_rotation
from ..core.sessions import Session
from ..core.throttle import retry_after, throttle_keys
from ..core.users import User
from ..errors import NotFoundError, RateLimitedError, UnknownKeyError
from ..events import Event, EventSink
from ..keysource import KeyManager
from ..passwords import Passwords
from ..stores.base import ChecksContinuity, Store
from ..tokens.access import (
    AccessClaims,
    decode_access_token,
    encode_access_token,
    new_access_claims,
    revoked_error,
)
from ..tokens.refresh import ParsedRefreshToken, SaltCache, is_genuine, mint_refresh_token

if TYPE_CHECKING:
    from typing import Self

    from ..settings import Settings

__all__ = ["ServiceBase", "TokenPair"]

#: How long an unknown ``kid`` waits before it may trigger another key reload.
_KID_RELOAD_INTERVAL = 5.0


@dataclass(frozen=True, slots=True)
class _Throttle:
    """The failed-password counters one attempt touches."""

    store: Store
    keys: list[str]
    now: float
    since: float

    async def failed(self) -> None:
        await self.store.record_login_failure(self.keys, self.now, self.since)

    async def succeeded(self) -> None:
        await self.store.clear_login_failures(self.keys[0])


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh returns (RFC 6749 §5.1 fields, plus ids)."""

    access_token: str
    refresh_token: str
    #: Seconds until the access token expires.
    expires_in: int
    sub: str
    sid: str
    token_type: str = "Bearer"
    #: Seconds until the session's absolute end (the refresh token's life).
    refresh_expires_in: int = 0


class ServiceBase:
    """The collaborators and shared steps of
    :class:`~jwtwarden.service.TokenService`; never used on its own."""

    def __init__(
        self,
        store: Store,
        keys: KeyManager,
        policy: Policy,
        *,
        passwords: Passwords | None = None,
        clock: Clock | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.store = store
        self.keys = keys
        self.policy = policy
        self.passwords = passwords or Passwords()
        self.clock: Clock = clock or SystemClock()
        self._events = EventSink(on_event)
        self._next_purge = float("-inf")
        self._salts = SaltCache()
        #: The DPoP thumbprint each cached session is bound to (``b""``:
        #: unbound); like a salt, it never changes, so it is cached the same
        #: bounded way and lets a bound refresh be judged before the store
        #: rotates anything.
        self._bindings = SaltCache()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> Self:
        """A service on the store and keys ``settings`` name, not yet started
        (its keys load on :meth:`start`)."""
        parts = parts_from(settings)
        return cls(
            parts.store,
            parts.keys,
            parts.policy,
            passwords=parts.passwords,
            clock=clock,
            on_event=on_event,
        )

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> Self:
        """A service on ``settings.store`` with its keys loaded (generated on
        first start)."""
        service = cls.from_settings(settings, clock=clock, on_event=on_event)
        try:
            await service.start()
        except BaseException:
            await service.store.close()
            raise
        return service

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Deliver every event to ``listener`` too (the server's metrics)."""
        self._events.subscribe(listener)

    async def start(self) -> None:
        """Load (or create) the signing keys and prove the store kept its
        revocations since they last signed (or revoke every older token);
        call once before use."""
        now = self.clock.now()
        ring = await self.keys.ensure(now)
        if isinstance(self.store, ChecksContinuity):
            epoch = await self.store.check_continuity(
                ring.store_epoch, now, may_be_new=self.keys.may_vouch_new_store
            )
            await self.keys.bind(epoch, now)

    async def close(self) -> None:
        await self.store.close()

    async def _throttle(
        self, username_key: str, ip: str | None, now: float, user_agent: str | None
    ) -> _Throttle:
        """Refuse (RateLimitedError) a password check past the failed-login
        limits, before any password is checked, so the right password gets
        the same refusal as a wrong one; else the counters to update. Login
        and the current-password check of ``POST /password`` share them."""
        throttle = throttle_keys(username_key, ip)
        keys = [key for key, _ in throttle]
        since = now - self.policy.login_window
        counts = await self.store.login_failures(keys, since)
        limits = [self.policy.login_limits[which] for _, which in throttle]
        wait = retry_after(counts, limits, now=now, policy=self.policy)
        if wait is not None:
            self._emit("login_throttled", now, ip=ip, user_agent=user_agent, retry_after=wait)
            raise RateLimitedError(wait)
        return _Throttle(self.store, keys, now, since)

    async def get_user(self, sub: str) -> User:
        if not inputs.is_sub(sub):
            raise NotFoundError("No such user.")
        user = await self.store.get_user(sub)
        if user is None:
            raise NotFoundError("No such user.")
        return user

    async def get_session(self, sid: str) -> Session:
        found = await self.store.get_session(sid) if inputs.is_sid(sid) else None
        if found is None:
            raise NotFoundError("No such session.")
        return found[0]

    # verification

    async def verify(self, access_token: str) -> AccessClaims:
        """Signature, claims and revocation (denied ``jti``, revoked ``sid``,
        cutoff, ban) of an access token, checked against the store.

        Raises an InvalidTokenError subclass naming the cause. Resource
        servers use :class:`jwtwarden.verifier.Verifier` instead, which needs
        no store round trip.
        """
        now = self.clock.now()
        claims = await self.decode(access_token, now)
        facts = await self.store.revocation_facts(claims.sub, claims.sid, claims.jti, now)
        cause = revocation_cause(
            sid=claims.sid,
            auth_time=claims.auth_time,
            jti_denied=facts.jti_denied,
            session_revoked=facts.session_revoked,
            user=facts.user,
            now=now,
            store_cutoff=facts.store_cutoff,
        )
        if cause is not None:
            raise revoked_error(cause)
        return claims

    async def decode(
        self, access_token: str, now: float | None = None, *, allow_expired: bool = False
    ) -> AccessClaims:
        """Signature and claims only; an unknown ``kid`` reloads the keys at
        most once per few seconds, so forged kids cannot force a reload storm.
        ``allow_expired`` accepts a genuine but expired token (to log out)."""
        now = self.clock.now() if now is None else now
        try:
            return self._decode(access_token, now, allow_expired)
        except UnknownKeyError:
            if not await self.keys.reload_if_due(now, _KID_RELOAD_INTERVAL):
                raise
            return self._decode(access_token, now, allow_expired)

    def _decode(self, token: str, now: float, allow_expired: bool = False) -> AccessClaims:
        return decode_access_token(
            token,
            self.keys.find,
            issuer=self.policy.issuer,
            audience=self.policy.audience,
            now=now,
            leeway=self.policy.leeway,
            check_expiry=not allow_expired,
            max_lifetime=self.policy.access_ttl,
        )

    def _judge(
        self, session: Session, user: User, presented: ParsedRefreshToken, now: float
    ) -> RotationDecision:
        """The rotation rule applied to a presented token (MAC checked here,
        in constant time)."""
        genuine = is_genuine(self.keys.ring.mac_secret, presented, session.salt)
        return decide_rotation(
            session,
            user.revocation,
            presented.generation,
            genuine=genuine,
            now=now,
            policy=self.policy,
        )

    def _issue(
        self, session: Session, user: User, generation: int, now: float, jkt: str | None = None
    ) -> TokenPair:
        """The tokens of ``generation``; ``jkt``: bind the access token to
        that DPoP key (``cnf.jkt``, ``token_type: DPoP``, RFC 9449 §5)."""
        claims = new_access_claims(session, user.sub, user.roles, self.policy, now, jkt=jkt)
        exp = claims["exp"]
        return TokenPair(
            access_token=encode_access_token(claims, self.keys.signing_key()),
            refresh_token=mint_refresh_token(
                self.keys.ring.mac_secret, session.sid, generation, session.salt
            ),
            expires_in=max(0, min(math.ceil(exp - now), math.ceil(self.policy.access_ttl))),
            sub=user.sub,
            sid=session.sid,
            refresh_expires_in=max(0, math.floor(session.expires_at - now)),
            token_type="Bearer" if jkt is None else "DPoP",
        )

    # housekeeping and events

    async def purge(self) -> int:
        """Delete expired denylist entries, dead sessions and retired keys no
        live token needs; return how many records went. Also runs by itself
        every ``purge_interval`` during normal traffic."""
        now = self.clock.now()
        self._next_purge = now + self.policy.purge_interval
        count = await self.store.purge_expired(now, self.policy)
        return count + await self.keys.drop_expired(now)

    async def _housekeeping(self, now: float) -> None:
        await self.keys.reload_if_due(now)
        if now >= self._next_purge:
            await self.purge()

    def _emit(
        self,
        kind: str,
        at: float,
        *,
        sub: str | None = None,
        sid: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        **detail: Any,
    ) -> None:
        detail = {k: v for k, v in detail.items() if v is not None}
        self._events.emit(Event(kind, at, sub, sid, ip, user_agent, detail))
