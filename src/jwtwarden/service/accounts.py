"""Accounts: creating and finding users, bans, roles and passwords, and a
user's sessions."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable

from ..core.sessions import Session
from ..core.users import User, validate_roles, validate_username
from ..errors import (
    InvalidCredentialsError,
    InvalidRequestError,
    NotFoundError,
    StoreConflictError,
)
from ..passwords import MAX_PASSWORD_LENGTH
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
        user = await self.store.find_user(username) if isinstance(username, str) else None
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

    async def list_sessions(self, sub: str) -> list[Session]:
        """The live sessions of ``sub``, oldest first."""
        user = await self.get_user(sub)
        now = self.clock.now()
        sessions = await self.store.list_sessions(sub)
        return [s for s in sessions if s.is_live(now, self.policy, user.revocation)]
