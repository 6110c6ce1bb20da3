"""TokenService: login, rotation, revocation and keys, on top of the
account and client parts."""

from __future__ import annotations

from typing import Any

from ..core import inputs
from ..core.rotation import GraceReplay, Rejected, Reused, Rotated, dpop_refusal
from ..core.sessions import Session
from ..core.users import User, normalize_username
from ..core.view import RevocationSnapshot
from ..errors import (
    InvalidCredentialsError,
    InvalidDpopProofError,
    InvalidGrantError,
    InvalidTokenError,
    NotFoundError,
    RefreshTokenReusedError,
)
from ..tokens.access import AccessClaims
from ..tokens.dpop import Proof
from ..tokens.jwks import export_jwks
from ..tokens.keys import SigningKey
from ..tokens.refresh import (
    is_genuine,
    parse_refresh_token,
)
from .accounts import Accounts
from .base import TokenPair
from .sessions import Sessions

__all__ = ["TokenService"]


class TokenService(Accounts, Sessions):
    """Login, rotation, revocation and verification over one store.

    Build it with :meth:`open` from :class:`~jwtwarden.settings.Settings`, or
    directly from parts (tests pass a ``MemoryStore`` and a ``FrozenClock``).
    """

    # login and rotation

    async def login(
        self,
        username: str,
        password: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        client_id: str = "jwtwarden",
        dpop: Proof | None = None,
        bind_access: bool = True,
    ) -> TokenPair:
        """Check credentials and start a session; with ``dpop`` (a proof
        checked by :meth:`check_dpop_proof`), bound to its key (RFC 9449 §5):
        the access token too unless ``bind_access`` is false.

        Raises InvalidCredentialsError (``invalid_grant``) for a wrong
        password, an unknown user (same answer, same time) or a banned user,
        and RateLimitedError past the failed-login limits, even for the right
        password, so a guess cannot be confirmed. InvalidRequestError without
        ``dpop`` for a registered client that requires DPoP, before any
        password is checked.
        """
        username = inputs.username(username)
        password = inputs.presented_password(password)
        client_id = inputs.oauth_client_id(client_id)
        await self._check_dpop_required(client_id, dpop)
        now = self.clock.now()
        ip, user_agent = inputs.client_ip_text(ip), inputs.clean_text(user_agent)
        throttle = await self._throttle(normalize_username(username), ip, now, user_agent)
        user, rehash = await self._check_password(username, password)
        # A banned user with the right password gets exactly what a wrong
        # guess gets (the same answer, the same failure count), or a guess
        # made during the ban would be confirmed by its answer.
        banned = user is not None and user.revocation.is_banned(now)
        if user is None or banned:
            await throttle.failed()
            reason = "banned" if banned else None
            sub = user.sub if user is not None else None
            self._emit("login_failed", now, sub=sub, ip=ip, user_agent=user_agent, reason=reason)
            raise InvalidCredentialsError()
        await throttle.succeeded()
        assert user is not None
        if rehash:
            await self._upgrade_hash(user, password)
        return await self._begin(
            user, now, ip, user_agent, client_id, dpop=dpop, bind_access=bind_access
        )

    async def _check_password(self, username: str, password: str) -> tuple[User | None, bool]:
        """The user if the password is theirs, and whether their hash should
        be remade. An unknown user burns the same argon2 time."""
        user = await self.store.find_user(username)
        check = await self.passwords.check(user.password_hash if user else None, password)
        if user is None or not check.ok:
            return None, False
        return user, check.legacy or self.passwords.needs_rehash(user.password_hash)

    async def _upgrade_hash(self, user: User, password: str) -> None:
        """Rehash a password hashed with weaker parameters or before NFKC
        normalisation (after a login that succeeded, so a refused one costs
        the same as any other)."""
        await self.store.set_password(user.sub, await self.passwords.hash(password), None, None)

    async def refresh(
        self,
        refresh_token: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        dpop: Proof | None = None,
        bind_access: bool = True,
    ) -> TokenPair:
        """Trade a refresh token for a new access token and refresh token.

        ``dpop``: the request's proof (checked by :meth:`check_dpop_proof`).
        A session bound to a DPoP key needs one signed by that key; the new
        access token is bound to the proof's key (unless ``bind_access`` is
        false), also for an unbound session, which stays unbound.

        Raises InvalidGrantError for an unknown, forged, expired or revoked
        token, RefreshTokenReusedError (an InvalidGrantError) after revoking
        the session when a spent token comes back, and InvalidDpopProofError
        for a bound session without a proof by its key, with nothing changed.
        """
        presented = parse_refresh_token(refresh_token)
        if presented is None:
            raise InvalidGrantError()
        now = self.clock.now()
        ip, user_agent = _ip_text(ip), inputs.clean_text(user_agent)
        # The usual case in one store round trip: the salt is known here, the
        # MAC checks out, and the store rotates only if the session is live.
        # The binding never changes either, so it is judged before the store
        # changes anything; a session whose binding this process has not
        # seen takes the path below, which reads it.
        proof_jkt = None if dpop is None else dpop.jkt
        access_jkt = proof_jkt if bind_access else None
        salt, bound = self._salts.get(presented.sid), self._bindings.get(presented.sid)
        if (
            salt is not None
            and bound is not None
            and is_genuine(self.keys.ring.mac_secret, presented, salt)
        ):
            self._check_binding(bound.decode() or None, proof_jkt, presented.sid, now)
            live = await self.store.rotate_if_live(
                presented.sid, presented.generation, now, self.policy.idle_ttl
            )
            if live is not None:
                return await self._rotated(live[0], live[1], now, ip, user_agent, access_jkt)
        # Otherwise read and judge. A lost compare-and-swap means another
        # request rotated first: read again (usually a grace replay of it).
        for _ in range(3):
            found = await self.store.get_session(presented.sid)
            if found is None:
                raise InvalidGrantError()
            session, user = found
            self._salts.put(session.sid, session.salt)
            self._bindings.put(session.sid, (session.jkt or "").encode())
            if is_genuine(self.keys.ring.mac_secret, presented, session.salt):
                self._check_binding(session.jkt, proof_jkt, session.sid, now)
            decision = self._judge(session, user, presented, now)
            if isinstance(decision, Rotated):
                rotated = await self.store.rotate(session.sid, presented.generation, now)
                if rotated is None:
                    continue
                return await self._rotated(rotated, user, now, ip, user_agent, access_jkt)
            if isinstance(decision, GraceReplay):
                return self._issue(session, user, decision.child_generation, now, access_jkt)
            if isinstance(decision, Reused):
                await self._revoke_for_reuse(session, decision, now, ip, user_agent)
                raise RefreshTokenReusedError(sid=session.sid, sub=session.sub)
            assert isinstance(decision, Rejected)
            if decision.reason == "revoked" and session.revoke_reason == "reuse":
                # A genuine token of a session already ended for reuse: its
                # holder (owner or thief) learns why, so a browser can say so.
                raise RefreshTokenReusedError(sid=session.sid, sub=session.sub)
            raise InvalidGrantError(detail=f"refresh rejected: {decision.reason} sid={session.sid}")
        raise InvalidGrantError(detail=f"refresh contention sid={presented.sid}")

    def _check_binding(
        self, session_jkt: str | None, proof_jkt: str | None, sid: str, now: float
    ) -> None:
        refusal = dpop_refusal(session_jkt, proof_jkt)
        if refusal is not None:
            self._emit("dpop_mismatch", now, sid=sid, proof=proof_jkt is not None)
            raise InvalidDpopProofError(refusal)

    async def _rotated(
        self,
        session: Session,
        user: User,
        now: float,
        ip: str | None,
        user_agent: str | None,
        access_jkt: str | None,
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
        return self._issue(session, user, session.generation, now, access_jkt)

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

    # revocation

    async def logout(self, claims: AccessClaims) -> bool:
        """End the session the access token belongs to; its refresh token and
        every access token it minted stop working at once."""
        return await self.revoke_session(claims.sid, reason="logout")

    async def logout_all(self, sub: str, *, keep_sid: str | None = None) -> None:
        """End every session of ``sub`` (but ``keep_sid``): one cutoff write,
        whatever the number of tokens."""
        now = self.clock.now()
        if not inputs.is_sub(sub) or not await self.store.set_cutoff(sub, now, keep_sid):
            raise NotFoundError("No such user.")
        self._emit("user_revoked", now, sub=sub, kept_sid=keep_sid)

    async def revoke_user(self, sub: str) -> None:
        """Cutoff now: every token of the user dies."""
        await self.logout_all(sub)

    async def revoke_session(self, sid: str, *, reason: str = "revoked") -> bool:
        """Revoke one session; ``False`` if it was unknown or already revoked."""
        if not inputs.is_sid(sid):
            return False
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

    # keys

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


def _ip_text(value: str | None) -> str | None:
    """:func:`~jwtwarden.core.inputs.client_ip_text`, remembered for the
    addresses seen last: parsing one costs 12 to 16 µs on this machine, busy
    (2026-12-02), a dict look-up 0.1, and every refresh grant asks. At most
    :data:`_SEEN_ADDRESSES` entries (emptied when full, about 0.5 MB)."""
    if not isinstance(value, str):
        return inputs.client_ip_text(value)
    text = _ADDRESSES.get(value, _UNSEEN)
    if text is not _UNSEEN:
        return text
    text = inputs.client_ip_text(value)
    if len(value) <= 64:  # longer is never an address: not worth keeping
        if len(_ADDRESSES) >= _SEEN_ADDRESSES:
            _ADDRESSES.clear()
        _ADDRESSES[value] = text
    return text


_ADDRESSES: dict[str, str | None] = {}
_SEEN_ADDRESSES = 4096
_UNSEEN = ""  # never a canonical address
