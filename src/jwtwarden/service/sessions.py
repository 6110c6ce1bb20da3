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
from ..tokens.refresh import new_salt, new_sid
from .base import TokenPair
from .clients import Clients

__all__ = ["Sessions"]


class Sessions(Clients):
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
        this session, refreshes included (``core/claims.py``).

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
            user, now, ip, user_agent, client_id, claims_text, method="external"
        )

    async def exchange_assertion(
        self,
        assertion: str,
        *,
        scope: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> TokenPair:
        """The JWT-bearer grant (RFC 7523 §2.1): a registered client that
        issues sessions starts one for its own user with a JWT it signed
        (``iss`` its client id, ``sub`` the user's id, ``aud`` this server,
        a short ``exp``, a single-use ``jti``). ``scope`` is the roles the
        session carries, space-separated; they become the user's roles, as
        in :meth:`start_session`.

        Raises InvalidClientError for an ``iss`` that is no such client,
        InvalidGrantError for a bad signature, a refused claim, a replayed
        ``jti`` or a user who may not have a session (banned, or a password
        account), and InvalidScopeError for roles beyond the client's.
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
            checked.sub, roles=roles, ip=ip, user_agent=user_agent, client_id=client.client_id
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
        **detail: Any,
    ) -> TokenPair:
        """The new session of a login or :meth:`start_session`."""
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
        )
        await self.store.create_session(session)
        self._salts.put(session.sid, session.salt)
        if detail:
            detail["client_id"] = client_id
        self._emit(
            "login", now, sub=user.sub, sid=session.sid, ip=ip, user_agent=user_agent, **detail
        )
        await self._housekeeping(now)
        return self._issue(session, user, session.generation, now)
