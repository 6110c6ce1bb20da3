"""Password hashing with argon2id (argon2-cffi).

A login for an unknown user verifies the password against a dummy hash made
with the same parameters, so it costs the same time as a wrong password and
does not reveal which usernames exist.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .core.inputs import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    new_password,
    normalize_password,
)

__all__ = ["MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "PasswordCheck", "Passwords"]


class PasswordCheck(NamedTuple):
    """The outcome of :meth:`Passwords.check`."""

    ok: bool
    #: The hash was made before NFKC normalisation: rehash the password.
    legacy: bool = False


class Passwords:
    """Hash and check passwords off the event loop."""

    def __init__(self, time_cost: int = 3, memory_cost: int = 65_536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def validate_new(self, password: object) -> str:
        """The password if it is acceptable as a new one (``core/inputs.py``);
        else InvalidRequestError. :meth:`hash` normalises it."""
        return new_password(password)

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (NFKC-normalised first)."""
        return await asyncio.to_thread(self._hasher.hash, normalize_password(password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; ``None`` (no such user) or ``""`` (a
        user without a password) burns the same time and answers ``False``."""
        return (await self.check(password_hash, password)).ok

    async def check(self, password_hash: str | None, password: str) -> PasswordCheck:
        """Whether ``password`` matches, and whether the hash should be
        replaced (it predates NFKC normalisation). The NFKC form is tried
        first; a password that NFKC changes is also tried as typed, for a
        hash made before passwords were normalised, with the same work for
        an unknown user (``None``), so the extra try reveals nothing."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return PasswordCheck(False)
        # No hash at all (an unknown user, or one the application
        # authenticates itself: an empty hash) costs the same as a wrong password.
        real = bool(password_hash)
        target = password_hash if password_hash else self._dummy
        normalized = normalize_password(password)
        if await self._matches(target, normalized):
            return PasswordCheck(real)
        if normalized != password and await self._matches(target, password):
            return PasswordCheck(real, legacy=real)
        return PasswordCheck(False)

    async def _matches(self, target: str, password: str) -> bool:
        try:
            return bool(await asyncio.to_thread(self._hasher.verify, target, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeEncodeError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
