"""TokenService: where the rules, the tokens, the store and the clock meet.

The service is ``async``: the server is ASGI and the scale-out stores have
async drivers. From synchronous code, run a call with ``asyncio.run`` (the
CLI does). One service may be shared by several threads and event loops.

Each operation reads the clock once, so ``iat``, ``exp`` and the stored record
agree. The core decides (``decide_rotation``, ``revocation_cause``); the
service applies the decision to the store and emits an event.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .bootstrap import parts_from
from .clock import Clock, SystemClock
from .core.clients import Client, hash_client_secret, is_client_secret
from .core.policy import Policy
from .core.revocation import revocation_cause
from .core.rotation import (
    GraceReplay,
    Rejected,
    Reused,
    Rotated,
    RotationDecision,
    decide_rotation,
)
from .core.sessions import Session
from .core.throttle import retry_after, throttle_keys
from .core.users import (
    MAX_USERNAME_LENGTH,
    User,
    normalize_username,
    validate_roles,
    validate_username,
)
from .core.view import RevocationSnapshot
from .errors import (
    InvalidClientError,
    InvalidCredentialsError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidTokenError,
    NotFoundError,
    RateLimitedError,
    RefreshTokenReusedError,
    StoreConflictError,
    UnknownKeyError,
)
from .events import Event, EventSink
from .keysource import KeyManager
from .passwords import MAX_PASSWORD_LENGTH, Passwords
from .stores.base import Store
from .tokens.access import (
    AccessClaims,
    decode_access_token,
    encode_access_token,
    new_access_claims,
    revoked_error,
)
from .tokens.jwks import export_jwks
from .tokens.keys import SigningKey
from .tokens.refresh import (
    ParsedRefreshToken,
    is_genuine,
    mint_refresh_token,
    new_salt,
    new_sid,
    parse_refresh_token,
)

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["TokenPair", "TokenService"]

_CLIENT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
#: Compared against when a client id is unknown, so both paths do the same work.
_NO_CLIENT_HASH = hash_client_secret(secrets.token_urlsafe(32))
_MAX_USER_AGENT = 512
_MAX_IP = 64
#: How long an unknown ``kid`` waits before it may trigger another key reload.
_KID_RELOAD_INTERVAL = 5.0


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


class TokenService:
    """Login, rotation, revocation and verification over one store.

    Build it with :meth:`open` from :class:`~jwtwarden.settings.Settings`, or
    directly from parts (tests pass a ``MemoryStore`` and a ``FrozenClock``).
    """

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
        self._salts = _SaltCache()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> TokenService:
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
    ) -> TokenService:
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
        """Load (or create) the signing keys; call once before use."""
        await self.keys.ensure(self.clock.now())

    async def close(self) -> None:
        await self.store.close()

    # users

    async def create_user(self, username: str, password: str, roles: Iterable[str] = ()) -> User:
        """Add a user. Raises InvalidRequestError for a bad username, password
        or role, StoreConflictError if the username is taken."""
        username = validate_username(username)
        password = self.passwords.validate_new(password)
        now = self.clock.now()
        user = User(
            str(uuid.uuid4()),
            username,
            await self.passwords.hash(password),
            validate_roles(roles),
            now,
        )
        try:
            await self.store.create_user(user)
        except StoreConflictError as exc:
            raise StoreConflictError("That username is taken.") from exc
        self._emit("user_created", now, sub=user.sub, roles=",".join(user.roles))
        return user

    async def get_user(self, sub: str) -> User:
        user = await self.store.get_user(sub)
        if user is None:
            raise NotFoundError("No such user.")
        return user

    async def find_user(self, username: str) -> User:
        user = await self.store.find_user(username) if isinstance(username, str) else None
        if user is None:
            raise NotFoundError("No such user.")
        return user

    async def list_users(self) -> list[User]:
        return await self.store.list_users()

    # login and rotation

    async def login(
        self,
        username: str,
        password: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        client_id: str = "jwtwarden",
    ) -> TokenPair:
        """Check credentials and start a session.

        Raises InvalidCredentialsError (``invalid_grant``) for a wrong
        password, an unknown user (same answer, same time) or a banned user,
        and RateLimitedError past the failed-login limits, even for the right
        password, so a guess cannot be confirmed.
        """
        if not isinstance(username, str) or not isinstance(password, str):
            raise InvalidRequestError("username and password are required.")
        now = self.clock.now()
        ip, user_agent = _bound(ip, _MAX_IP), _bound(user_agent, _MAX_USER_AGENT)
        throttle = throttle_keys(normalize_username(username[: MAX_USERNAME_LENGTH * 4]), ip)
        keys = [key for key, _ in throttle]
        since = now - self.policy.login_window
        counts = await self.store.login_failures(keys, since)
        limits = [self.policy.login_limits[which] for _, which in throttle]
        wait = retry_after(counts, limits, now=now, policy=self.policy)
        if wait is not None:
            self._emit("login_throttled", now, ip=ip, user_agent=user_agent, retry_after=wait)
            raise RateLimitedError(wait)
        user = await self._check_password(username, password)
        if user is None:
            await self.store.record_login_failure(keys, now, since)
            self._emit("login_failed", now, ip=ip, user_agent=user_agent)
            raise InvalidCredentialsError()
        await self.store.clear_login_failures(keys[0])
        if user.revocation.is_banned(now):
            self._emit(
                "login_failed", now, sub=user.sub, ip=ip, user_agent=user_agent, reason="banned"
            )
            raise InvalidCredentialsError("This account is suspended.")
        session = Session(
            sid=new_sid(),
            sub=user.sub,
            generation=0,
            salt=new_salt(),
            auth_time=now,
            expires_at=now + self.policy.session_ttl,
            last_used_at=now,
            ip=ip,
            user_agent=user_agent,
            client_id=_bound(client_id, 128) or "jwtwarden",
        )
        await self.store.create_session(session)
        self._salts.put(session.sid, session.salt)
        self._emit("login", now, sub=user.sub, sid=session.sid, ip=ip, user_agent=user_agent)
        await self._housekeeping(now)
        return self._issue(session, user, session.generation, now)

    async def _check_password(self, username: str, password: str) -> User | None:
        """The user if the password is theirs. An unknown user burns the same
        argon2 time; a hash made with weaker parameters is upgraded."""
        too_long = len(username) > MAX_USERNAME_LENGTH * 4 or len(password) > MAX_PASSWORD_LENGTH
        user = None if too_long else await self.store.find_user(username)
        ok = await self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok:
            return None
        if self.passwords.needs_rehash(user.password_hash):
            await self.store.set_password(user.sub, await self.passwords.hash(password), None, None)
        return user

    async def refresh(
        self, refresh_token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> TokenPair:
        """Trade a refresh token for a new access token and refresh token.

        Raises InvalidGrantError for an unknown, forged, expired or revoked
        token, and RefreshTokenReusedError (an InvalidGrantError) after
        revoking the session when a spent token comes back.
        """
        presented = parse_refresh_token(refresh_token)
        if presented is None:
            raise InvalidGrantError()
        now = self.clock.now()
        ip, user_agent = _bound(ip, _MAX_IP), _bound(user_agent, _MAX_USER_AGENT)
        # The usual case in one store round trip: the salt is known here, the
        # MAC checks out, and the store rotates only if the session is live.
        salt = self._salts.get(presented.sid)
        if salt is not None and is_genuine(self.keys.ring.mac_secret, presented, salt):
            live = await self.store.rotate_if_live(
                presented.sid, presented.generation, now, self.policy.idle_ttl
            )
            if live is not None:
                return await self._rotated(live[0], live[1], now, ip, user_agent)
        # Otherwise read and judge. A lost compare-and-swap means another
        # request rotated first: read again (usually a grace replay of it).
        for _ in range(3):
            found = await self.store.get_session(presented.sid)
            if found is None:
                raise InvalidGrantError()
            session, user = found
            self._salts.put(session.sid, session.salt)
            decision = self._judge(session, user, presented, now)
            if isinstance(decision, Rotated):
                rotated = await self.store.rotate(session.sid, presented.generation, now)
                if rotated is None:
                    continue
                return await self._rotated(rotated, user, now, ip, user_agent)
            if isinstance(decision, GraceReplay):
                return self._issue(session, user, decision.child_generation, now)
            if isinstance(decision, Reused):
                await self._revoke_for_reuse(session, decision, now, ip, user_agent)
                raise RefreshTokenReusedError(sid=session.sid, sub=session.sub)
            assert isinstance(decision, Rejected)
            raise InvalidGrantError(detail=f"refresh rejected: {decision.reason} sid={session.sid}")
        raise InvalidGrantError(detail=f"refresh contention sid={presented.sid}")

    async def _rotated(
        self, session: Session, user: User, now: float, ip: str | None, user_agent: str | None
    ) -> TokenPair:
        self._emit(
            "refresh",
            now,
            sub=user.sub,
            sid=session.sid,
            ip=ip,
            user_agent=user_agent,
            generation=session.generation,
        )
        await self._housekeeping(now)
        return self._issue(session, user, session.generation, now)

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

    async def _revoke_for_reuse(
        self, session: Session, decision: Reused, now: float, ip: str | None, ua: str | None
    ) -> None:
        await self.store.revoke_session(session.sid, now, "reuse")
        if self.policy.reuse_revokes == "user":
            await self.store.set_cutoff(session.sub, now, None)
        self._emit(
            "reuse_detected",
            now,
            sub=session.sub,
            sid=session.sid,
            ip=ip,
            user_agent=ua,
            presented_generation=decision.presented_generation,
            current_generation=decision.current_generation,
            revoked=self.policy.reuse_revokes,
            session_ip=session.ip,
        )

    def _issue(self, session: Session, user: User, generation: int, now: float) -> TokenPair:
        claims = new_access_claims(session, user.sub, user.roles, self.policy, now)
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
        )

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
        )

    # revocation

    async def logout(self, claims: AccessClaims) -> bool:
        """End the session the access token belongs to; its refresh token and
        every access token it minted stop working at once."""
        return await self.revoke_session(claims.sid, reason="logout")

    async def logout_all(self, sub: str, *, keep_sid: str | None = None) -> None:
        """End every session of ``sub`` (but ``keep_sid``): one cutoff write,
        whatever the number of tokens."""
        now = self.clock.now()
        if not await self.store.set_cutoff(sub, now, keep_sid):
            raise NotFoundError("No such user.")
        self._emit("user_revoked", now, sub=sub, kept_sid=keep_sid)

    async def revoke_user(self, sub: str) -> None:
        """Cutoff now: every token of the user dies."""
        await self.logout_all(sub)

    async def revoke_session(self, sid: str, *, reason: str = "revoked") -> bool:
        """Revoke one session; ``False`` if it was unknown or already revoked."""
        now = self.clock.now()
        session = await self.store.revoke_session(sid, now, reason)
        if session is not None:
            self._emit("session_revoked", now, sub=session.sub, sid=sid, reason=reason)
        return session is not None

    async def revoke_access_token(self, access_token: str) -> bool:
        """Deny one access token until it would have expired. An invalid or
        already expired token is a no-op (``False``)."""
        now = self.clock.now()
        try:
            claims = await self.decode(access_token, now)
        except InvalidTokenError:
            return False
        await self.store.deny_jti(claims.jti, claims.exp + self.policy.leeway)
        self._emit("token_revoked", now, sub=claims.sub, sid=claims.sid, jti=claims.jti)
        return True

    async def revoke_refresh_token(self, refresh_token: str) -> bool:
        """Revoke the whole session of a genuine refresh token (any
        generation); anything else is a no-op (``False``)."""
        presented = parse_refresh_token(refresh_token)
        if presented is None:
            return False
        found = await self.store.get_session(presented.sid)
        if found is None or not is_genuine(self.keys.ring.mac_secret, presented, found[0].salt):
            return False
        return await self.revoke_session(presented.sid, reason="revoked")

    async def revoke_token(self, token: str, token_type_hint: str | None = None) -> bool:
        """RFC 7009: revoke whatever kind of token this is."""
        if token_type_hint == "access_token":
            return await self.revoke_access_token(token) or await self.revoke_refresh_token(token)
        return await self.revoke_refresh_token(token) or await self.revoke_access_token(token)

    async def ban(self, sub: str, until: float) -> None:
        """No login or refresh until ``until``; every token issued before now dies."""
        now = self.clock.now()
        if not math.isfinite(until) or until <= now:
            raise InvalidRequestError("A ban must end in the future.")
        if not await self.store.set_ban(sub, until, now):
            raise NotFoundError("No such user.")
        self._emit("user_banned", now, sub=sub, until=until)

    async def unban(self, sub: str) -> None:
        """Lift a ban; tokens from before it stay dead."""
        if not await self.store.lift_ban(sub):
            raise NotFoundError("No such user.")
        self._emit("user_unbanned", self.clock.now(), sub=sub)

    async def set_roles(self, sub: str, roles: Iterable[str]) -> None:
        """New roles; every token carrying the old ones dies (the user logs in
        again), in one write."""
        checked = validate_roles(roles)
        now = self.clock.now()
        if not await self.store.set_roles(sub, checked, now):
            raise NotFoundError("No such user.")
        self._emit("roles_changed", now, sub=sub, roles=",".join(checked))

    async def change_password(
        self, sub: str, current_password: str, new_password: str, *, keep_sid: str | None = None
    ) -> None:
        """Check the current password, set the new one, and end every session
        but ``keep_sid``. Raises InvalidCredentialsError for a wrong current password."""
        user = await self.get_user(sub)
        if not isinstance(current_password, str) or len(current_password) > MAX_PASSWORD_LENGTH:
            raise InvalidCredentialsError("The current password is wrong.")
        if not await self.passwords.verify(user.password_hash, current_password):
            raise InvalidCredentialsError("The current password is wrong.")
        await self.set_password(sub, new_password, keep_sid=keep_sid)

    async def set_password(
        self, sub: str, new_password: str, *, keep_sid: str | None = None
    ) -> None:
        """Set a password without the old one (admin); every session but
        ``keep_sid`` ends."""
        password_hash = await self.passwords.hash(self.passwords.validate_new(new_password))
        now = self.clock.now()
        if not await self.store.set_password(sub, password_hash, now, keep_sid):
            raise NotFoundError("No such user.")
        self._emit("password_changed", now, sub=sub, kept_sid=keep_sid)

    # sessions

    async def list_sessions(self, sub: str) -> list[Session]:
        """The live sessions of ``sub``, oldest first."""
        user = await self.get_user(sub)
        now = self.clock.now()
        sessions = await self.store.list_sessions(sub)
        return [s for s in sessions if s.is_live(now, self.policy, user.revocation)]

    async def get_session(self, sid: str) -> Session:
        found = await self.store.get_session(sid)
        if found is None:
            raise NotFoundError("No such session.")
        return found[0]

    # resource-server clients and introspection

    async def create_client(self, name: str) -> tuple[Client, str]:
        """New resource-server credentials; the secret is returned once and
        only its hash is stored."""
        if not isinstance(name, str) or not _CLIENT_NAME.fullmatch(name):
            raise InvalidRequestError("A client name is 1-100 letters, digits and _.:- characters.")
        secret = secrets.token_urlsafe(32)
        client = Client(
            "rs_" + secrets.token_urlsafe(12), name, hash_client_secret(secret), self.clock.now()
        )
        try:
            await self.store.create_client(client)
        except StoreConflictError as exc:
            raise StoreConflictError("That client name is taken.") from exc
        return client, secret

    async def authenticate_client(self, client_id: str, secret: str) -> Client:
        """The client whose credentials these are; InvalidClientError
        otherwise, after the same work either way."""
        shaped = isinstance(client_id, str) and len(client_id) <= 64 and isinstance(secret, str)
        client = await self.store.get_client(client_id) if shaped else None
        ok = is_client_secret(
            secret if isinstance(secret, str) else "",
            client.secret_hash if client else _NO_CLIENT_HASH,
        )
        if client is None or not ok:
            raise InvalidClientError()
        return client

    async def introspect(self, token: str, token_type_hint: str | None = None) -> dict[str, Any]:
        """RFC 7662: ``{"active": false}`` for anything unusable, else the
        claims. Introspecting a refresh token never counts as using it."""
        if token_type_hint != "refresh_token":
            try:
                return _introspected(await self.verify(token))
            except InvalidTokenError:
                pass
        presented = parse_refresh_token(token)
        found = None if presented is None else await self.store.get_session(presented.sid)
        if presented is None or found is None:
            return {"active": False}
        session, user = found
        decision = self._judge(session, user, presented, self.clock.now())
        if not isinstance(decision, Rotated):
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "sub": session.sub,
            "sid": session.sid,
            "client_id": session.client_id,
            "exp": math.floor(session.expires_at),
            "iat": session.rotated_at or session.auth_time,
            "auth_time": session.auth_time,
            "iss": self.policy.issuer,
        }

    # keys and housekeeping

    def jwks(self) -> dict[str, Any]:
        """The public keys that may verify a live token (RFC 7517 JWK Set)."""
        return export_jwks(self.keys.ring.public_keys)

    async def rotate_keys(self) -> SigningKey:
        """A new signing key; older ones verify until their tokens expire."""
        return await self.keys.rotate(self.clock.now())

    async def revocation_snapshot(self) -> RevocationSnapshot:
        """Every revocation that can still matter: what a verifier loads."""
        return await self.store.revocation_snapshot(
            self.clock.now(), self.policy.revocation_horizon
        )

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


class _SaltCache:
    """Session salts seen by this process (a salt never changes), so a refresh
    can check its MAC before the store is asked anything. Bounded; losing an
    entry only means one slower refresh."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._salts: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sid: str) -> bytes | None:
        return self._salts.get(sid)

    def put(self, sid: str, salt: bytes) -> None:
        with self._lock:
            self._salts[sid] = salt
            while len(self._salts) > self._size:
                self._salts.popitem(last=False)


def _introspected(claims: AccessClaims) -> dict[str, Any]:
    return {"active": True, "token_type": "access_token", **claims.raw}


def _bound(value: str | None, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:limit]
