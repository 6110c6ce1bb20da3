"""Users: the account a token speaks for."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from .revocation import UserRevocation

__all__ = ["User", "normalize_username"]


def normalize_username(username: str) -> str:
    """The key usernames are unique by: NFKC, case-folded, so that ``Alice``,
    ``alice`` and a full-width ``ａｌｉｃｅ`` are one account."""
    return unicodedata.normalize("NFKC", username).casefold()


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
    def username_key(self) -> str:
        return normalize_username(self.username)
