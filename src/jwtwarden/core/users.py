"""Users: the account a token speaks for."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import InvalidRequestError
from .inputs import MAX_USERNAME_LENGTH
from .inputs import username as _check_username
from .revocation import UserRevocation

__all__ = [
    "MAX_ROLES",
    "MAX_ROLE_LENGTH",
    "MAX_USERNAME_LENGTH",
    "User",
    "external_username",
    "normalize_username",
    "validate_roles",
    "validate_username",
]

MAX_ROLES = 32
MAX_ROLE_LENGTH = 64
_ROLE = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_ROLE_LENGTH}}}")


def normalize_username(username: str) -> str:
    """The key usernames are unique by: NFKC, case-folded, so that ``Alice``,
    ``alice`` and a full-width ``ａｌｉｃｅ`` are one account."""
    return unicodedata.normalize("NFKC", username).casefold()


def external_username(sub: str) -> str:
    """The username of a user the application authenticates itself
    (:meth:`~jwtwarden.service.TokenService.start_session`): its ``sub``,
    with each capital letter written ``^`` and its lower case and ``^``
    doubled. Usernames are unique case-insensitively but subs are not, so
    ``User42`` and ``user42`` stay two users (``^user42``, ``user42``); the
    common lower-case ids (``42``, a UUID) read unchanged."""
    return "".join("^" + c.lower() if c.isupper() else "^^" if c == "^" else c for c in sub)


def validate_username(username: object) -> str:
    """``username`` if it may name an account: 1 to ``MAX_USERNAME_LENGTH``
    printable characters, no outer spaces (the rule of ``core/inputs.py``).
    Raises InvalidRequestError."""
    return _check_username(username)


def validate_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The roles without repeats, in order, if each is a valid name and there
    are at most ``MAX_ROLES``. Raises InvalidRequestError."""
    if isinstance(roles, str):
        raise InvalidRequestError("Roles are a list of names.")
    checked = tuple(dict.fromkeys(roles))
    if len(checked) > MAX_ROLES or not all(
        isinstance(r, str) and _ROLE.fullmatch(r) for r in checked
    ):
        raise InvalidRequestError(
            f"At most {MAX_ROLES} roles, each 1-{MAX_ROLE_LENGTH} characters of letters, "
            "digits and _.:-"
        )
    return checked


@dataclass(frozen=True, slots=True)
class User:
    """An account; ``sub`` is its stable id, ``username`` what it logs in with."""

    sub: str
    username: str
    password_hash: str = field(repr=False)
    roles: tuple[str, ...] = ()
    created_at: float = 0.0
    revocation: UserRevocation = field(default_factory=UserRevocation)

    @property
    def has_password(self) -> bool:
        """Whether the user logs in with a jwtwarden password; one started by
        ``start_session`` has none (an empty hash), so no login can succeed."""
        return bool(self.password_hash)

    @property
    def username_key(self) -> str:
        return normalize_username(self.username)
