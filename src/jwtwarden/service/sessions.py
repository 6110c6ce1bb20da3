"""Sessions for users the application authenticates itself: the Python
call (:meth:`Sessions.start_session`) and the JWT-bearer grant of a
registered backend client (:meth:`Sessions.exchange_assertion`), and the
session start they share with password logins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..core import inputs
from ..core.claims import custom_claims
from ..core.sessions import Session
from ..core.users import User, external_username, validate_roles
from ..errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    NotFoundError,
    StoreConflictError,
)
from ..tokens.dpop import Proof
from ..tokens.refresh import new_salt, new_sid
from .base import TokenPair
from .clients import Clients
from .dpop import DpopProofs

__all__ = ["DPOP_REQUIRED", "Sessions"]

#: The description of a token request refused for want of a DPoP proof.
DPOP_REQUIRED = "DPoP is required: send a DPoP proof in the DPoP header (RFC 9449)."


class Sessions(Clients, DpopProofs):
    """The session-starting part of :class:`~jwtwarden.service.TokenService`."""

    async def start_session(
        self,
        sub: str,
        *,
        roles: Iterable[str] = (),
        claims: Mapping[str, object] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        client_id: str = "jwtwarden",
        dpop: Proof | None = None,
    ) -> TokenPair:
        """Start a session for a user the application authenticated itself
        (its own user table, Django's ``authenticate``, SSO): the same tokens
        as :meth:`login`, and no password in jwtwarden.

        ``sub`` is the application's own user id (1-128 printable ASCII).
        The first call creates a jwtwarden user with that ``sub`` and no
        password (named by :func:`~jwtwarden.core.users.external_username`),
        so every per-user rule works for it: cutoff, ban, :meth:`set_roles`,
        :meth:`logout_all`, :meth:`list_sessions`, reuse detection, events.
        ``roles`` are the user's roles from now on: roles that differ from
        the stored ones are a :meth:`set_roles` (the tokens carrying the old
        ones die). ``claims`` are custom claims for every access token of
        this session, refreshes included (``core/claims.py``). ``dpop``: a
        proof checked by :meth:`check_dpop_proof`; the session and its
        access tokens are bound to its key (RFC 9449).

        Raises InvalidRequestError for a bad ``sub``, role or claim, and
        InvalidGrantError for a banned user or a ``sub`` that is a jwtwarden
        account with a password (it logs in with :meth:`login`); nothing is
        created then.
        """
        if not inputs.is_sub(sub):
            raise InvalidRequestError("A sub is 1 to 128 printable ASCII characters.")
        checked = validate_roles(roles)
        claims_text = custom_claims(claims)
        client_id = inputs.oauth_client_id(client_id)
        now = self.clock.now()
        ip, user_agent = inputs.client_ip_text(ip), inputs.clean_text(user_agent)
        user = await self.store.get_user(sub) or await self._new_external_user(sub, checked, now)
        if user.has_password:
            self._emit(
                "login_failed", now, sub=sub, ip=ip, user_agent=user_agent,
                reason="password_account", client_id=client_id,
            )  # fmt: skip
            raise InvalidGrantError(
                "That user logs in with a jwtwarden password.", detail=f"start_session sub={sub}"
            )
        if user.revocation.is_banned(now):
            self._emit(
                "login_failed", now, sub=sub, ip=ip, user_agent=user_agent,
                reason="banned", client_id=client_id,
            )  # fmt: skip
            raise InvalidGrantError("The user is banned.")
        if user.roles != checked:
            # The cutoff is at the new session's own instant, which it
            # survives (a cutoff covers only what began before it).
            if not await self.store.set_roles(sub, checked, now):
                raise NotFoundError("No such user.")
            self._emit("roles_changed", now, sub=sub, roles=",".join(checked))
            user = await self.get_user(sub)
        return await self._begin(
            user, now, ip, user_agent, client_id, claims_text, dpop, method="external"
        )

    async def exchange_assertion(
        self,
        assertion: str,
        *,
        scope: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        dpop: Proof | None = None,
    ) -> TokenPair:
        """The JWT-bearer grant (RFC 7523 §2.1): a registered client that
        issues sessions starts one for its own user with a JWT it signed
        (``iss`` its client id, ``sub`` the user's id, ``aud`` this server,
        a short ``exp``, a single-use ``jti``). ``scope`` is the roles the
        session carries, space-separated; they become the user's roles, as
        in :meth:`start_session`. ``dpop`` binds the session as there.

        Raises InvalidClientError for an ``iss`` that is no such client,
        InvalidGrantError for a bad signature, a refused claim, a replayed
        ``jti`` or a user who may not have a session (banned, or a password
        account), InvalidScopeError for roles beyond the client's, and
        InvalidRequestError without ``dpop`` for a client that requires it.
        Nothing is created on a refusal; the events name the client.
        """
        now = self.clock.now()
        ip, user_agent = inputs.client_ip_text(ip), inputs.clean_text(user_agent)
        client, checked = await self.authenticate_assertion(assertion, now)

        def refused(reason: str) -> None:
            self._emit(
                "login_failed", now, sub=checked.sub, ip=ip, user_agent=user_agent,
                reason=reason, client_id=client.client_id,
            )  # fmt: skip

        if client.require_dpop and dpop is None:
            refused("dpop_required")
            raise InvalidRequestError(DPOP_REQUIRED)
        roles = tuple(dict.fromkeys((scope or "").split()))
        if not set(roles) <= set(client.session_roles):
            refused("scope")
            raise InvalidScopeError(
                f"This client may grant the roles: {' '.join(client.session_roles) or 'none'}."
            )
        # Single use, across every process on the store: the jti is kept
        # until the assertion expires, past which it is refused anyway.
        until = checked.exp + self.policy.leeway
        if not await self.store.remember_once(
            "jwt-bearer", f"{client.client_id}:{checked.jti}", now, until
        ):
            refused("replay")
            raise InvalidGrantError("The assertion was used before (its jti).")
        return await self.start_session(
            checked.sub,
            roles=roles,
            ip=ip,
            user_agent=user_agent,
            client_id=client.client_id,
            dpop=dpop,
        )

    async def _new_external_user(self, sub: str, roles: tuple[str, ...], now: float) -> User:
        """Create the password-less user of ``sub``; a racing call may have
        created it first. InvalidGrantError if its username is a local
        account's."""
        user = User(sub, external_username(sub), "", roles, now)
        try:
            await self.store.create_user(user)
        except StoreConflictError:
            found = await self.store.get_user(sub)
            if found is None:
                raise InvalidGrantError(
                    "That user id is the username of another jwtwarden account.",
                    detail=f"start_session username taken sub={sub}",
                ) from None
            return found
        self._emit("user_created", now, sub=sub, source="external")
        return user

    async def _begin(
        self,
        user: User,
        now: float,
        ip: str | None,
        user_agent: str | None,
        client_id: str,
        claims: str | None = None,
        dpop: Proof | None = None,
        bind_access: bool = True,
        **detail: Any,
    ) -> TokenPair:
        """The new session of a login or :meth:`start_session`, bound to
        the key of ``dpop`` if given (its access token too, unless
        ``bind_access`` is false: browser mode binds the refresh token only)."""
        jkt = None if dpop is None else dpop.jkt
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
            client_id=client_id,
            claims=claims,
            jkt=jkt,
        )
        await self.store.create_session(session)
        self._salts.put(session.sid, session.salt)
        self._bindings.put(session.sid, (jkt or "").encode())
        if detail:
            detail["client_id"] = client_id
        self._emit(
            "login", now, sub=user.sub, sid=session.sid, ip=ip, user_agent=user_agent,
            dpop=jkt is not None or None, **detail,
        )  # fmt: skip
        await self._housekeeping(now)
        return self._issue(session, user, session.generation, now, jkt if bind_access else None)

    async def _check_dpop_required(self, client_id: str, dpop: Proof | None) -> None:
        """InvalidRequestError if ``client_id`` is a registered client that
        requires DPoP and ``dpop`` is missing. Only a registered client's id
        is looked up (``rs_…``; the default ``jwtwarden`` is not one): the
        server-wide setting is checked at the edge."""
        registered = client_id.startswith("rs_") and inputs.is_client_id(client_id)
        if dpop is not None or not registered:
            return
        client = await self.store.get_client(client_id)
        if client is not None and client.require_dpop:
            raise InvalidRequestError(DPOP_REQUIRED)
