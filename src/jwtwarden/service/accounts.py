"""Accounts: creating and finding users, bans, roles and passwords, and a
user's sessions."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable

from ..core import inputs
from ..core.sessions import Session
from ..core.users import User, normalize_username, validate_roles, validate_username
from ..errors import (
    InvalidCredentialsError,
    InvalidRequestError,
    NotFoundError,
    StoreConflictError,
)
from .base import ServiceBase

__all__ = ["Accounts"]


class Accounts(ServiceBase):
    """The user-administration part of :class:`~jwtwarden.service.TokenService`."""

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

    async def find_user(self, username: str) -> User:
        """The user named ``username``. Raises InvalidRequestError for a name
        no account can have, NotFoundError for an unknown one."""
        user = await self.store.find_user(inputs.username(username))
        if user is None:
            raise NotFoundError("No such user.")
        return user

    async def list_users(self) -> list[User]:
        return await self.store.list_users()

    async def ban(self, sub: str, until: float) -> None:
        """No login or refresh until ``until``; every token issued before now dies."""
        now = self.clock.now()
        if not math.isfinite(until) or until <= now:
            raise InvalidRequestError("A ban must end in the future.")
        if not inputs.is_sub(sub) or not await self.store.set_ban(sub, until, now):
            raise NotFoundError("No such user.")
        self._emit("user_banned", now, sub=sub, until=until)

    async def unban(self, sub: str) -> None:
        """Lift a ban; tokens from before it stay dead."""
        if not inputs.is_sub(sub) or not await self.store.lift_ban(sub):
            raise NotFoundError("No such user.")
        self._emit("user_unbanned", self.clock.now(), sub=sub)

    async def set_roles(self, sub: str, roles: Iterable[str]) -> None:
        """New roles; every token carrying the old ones dies (the user logs in
        again), in one write."""
        checked = validate_roles(roles)
        now = self.clock.now()
        if not inputs.is_sub(sub) or not await self.store.set_roles(sub, checked, now):
            raise NotFoundError("No such user.")
        self._emit("roles_changed", now, sub=sub, roles=",".join(checked))

    async def change_password(
        self,
        sub: str,
        current_password: str,
        new_password: str,
        *,
        keep_sid: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Check the current password, set the new one, and end every session
        but ``keep_sid``. Raises InvalidCredentialsError for a wrong current
        password and RateLimitedError past the failed-login limits: a stolen
        access token must not turn this into an unthrottled password-guessing
        oracle, so wrong current passwords count toward the same limits as
        failed logins (per username and IP, and per IP)."""
        user = await self.get_user(sub)
        current_password = inputs.presented_password(current_password)
        self.passwords.validate_new(new_password)
        now = self.clock.now()
        ip, user_agent = inputs.client_ip_text(ip), inputs.clean_text(user_agent)
        throttle = await self._throttle(normalize_username(user.username), ip, now, user_agent)
        if not await self.passwords.verify(user.password_hash, current_password):
            await throttle.failed()
            self._emit(
                "login_failed", now, sub=sub, ip=ip, user_agent=user_agent, reason="password"
            )
            raise InvalidCredentialsError("The current password is wrong.")
        await throttle.succeeded()
        await self.set_password(sub, new_password, keep_sid=keep_sid)

    async def set_password(
        self, sub: str, new_password: str, *, keep_sid: str | None = None
    ) -> None:
        """Set a password without the old one (admin); every session but
        ``keep_sid`` ends."""
        password_hash = await self.passwords.hash(self.passwords.validate_new(new_password))
        now = self.clock.now()
        if not inputs.is_sub(sub) or not await self.store.set_password(
            sub, password_hash, now, keep_sid
        ):
            raise NotFoundError("No such user.")
        self._emit("password_changed", now, sub=sub, kept_sid=keep_sid)

    async def list_sessions(self, sub: str) -> list[Session]:
        """The live sessions of ``sub``, oldest first."""
        user = await self.get_user(sub)
        now = self.clock.now()
        sessions = await self.store.list_sessions(sub)
        return [s for s in sessions if s.is_live(now, self.policy, user.revocation)]
