"""Statements the two SQL stores share, written once with ``{name}``
placeholders and spelled for each driver by a :class:`Dialect`, and the user
writes built on them (:class:`UserWrites`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..core.policy import Policy
from ._rows import SESSION_COLUMNS, Rows

__all__ = ["PSYCOPG", "SQLITE", "Dialect", "UserWrites", "purge_params"]


class _Placeholders(dict[str, str]):
    def __init__(self, spelling: str) -> None:
        super().__init__()
        self._spelling = spelling

    def __missing__(self, name: str) -> str:
        return self._spelling.format(name)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one driver spells a bound parameter, by name and by position."""

    named: str
    positional: str

    def sql(self, template: str) -> str:
        """``template`` with every ``{name}`` as this driver's placeholder."""
        return template.format_map(_Placeholders(self.named))

    def values(self, n: int) -> str:
        """``n`` positional placeholders, comma-separated."""
        return ", ".join([self.positional] * n)


SQLITE = Dialect(":{}", "?")
PSYCOPG = Dialect("%({})s", "%s")

NEW_USER = (
    "INSERT INTO users (sub, username, username_key, password_hash, roles, created_at) "
    "VALUES ({sub}, {username}, {key}, {hash}, {roles}, {created})"
)
# The compare-and-swap of every rotation: row locking (PostgreSQL) or the one
# writer (SQLite) lets exactly one of racing refreshes match.
ROTATE = (
    "UPDATE sessions SET generation = generation + 1, rotated_at = {now}, "
    "last_used_at = {now} "
    "WHERE sid = {sid} AND generation = {gen} AND revoked_at IS NULL "
    f"RETURNING {SESSION_COLUMNS}"
)
REVOKE_SESSION = (
    "UPDATE sessions SET revoked_at = {now}, revoke_reason = {reason} "
    f"WHERE sid = {{sid}} AND revoked_at IS NULL RETURNING {SESSION_COLUMNS}"
)
# Mirrors jwtwarden.core.revocation.later_cutoff: of two racing cutoffs the
# later one wins, with its keep_sid. Every SET expression sees the row as it
# was, so both CASEs judge the old cutoff.
LATER_CUTOFF = (
    "cutoff_at = CASE WHEN cutoff_at > {at} THEN cutoff_at ELSE {at} END, "
    "keep_sid = CASE WHEN cutoff_at > {at} THEN keep_sid ELSE {keep} END"
)
#: What a user write returns: the revocation state after it.
USER_STATE = "RETURNING sub, cutoff_at, keep_sid, banned_until"
# Mirrors jwtwarden.core.view.event_forget_at; the horizon is known only when
# reading, so it is a parameter.
EVENT_FORGET_AT = "CASE WHEN kind = 'jti' THEN forget_at ELSE at + {h} END"

# Mirrors the Store.remember_once contract: insert, or take over an entry
# whose until has passed; RETURNING yields a row exactly when the id is new.
REMEMBER_ONCE = (
    "INSERT INTO seen_once (namespace, key, until) VALUES ({ns}, {key}, {until}) "
    "ON CONFLICT (namespace, key) DO UPDATE SET until = excluded.until "
    "WHERE seen_once.until <= {now} RETURNING 1"
)


_SET_PASSWORD = "UPDATE users SET password_hash = {hash} WHERE sub = {sub}"
_SET_PASSWORD_AND_CUTOFF = (
    f"UPDATE users SET password_hash = {{hash}}, {LATER_CUTOFF} WHERE sub = {{sub}}"
)
_SET_ROLES = f"UPDATE users SET roles = {{roles}}, {LATER_CUTOFF} WHERE sub = {{sub}}"
_SET_CUTOFF = f"UPDATE users SET {LATER_CUTOFF} WHERE sub = {{sub}}"
_SET_BAN = f"UPDATE users SET banned_until = {{until}}, {LATER_CUTOFF} WHERE sub = {{sub}}"
_LIFT_BAN = "UPDATE users SET banned_until = NULL WHERE sub = {sub}"


def purge_params(now: float, policy: Policy, batch: int) -> dict[str, float]:
    """The parameters of the purge statements: the policy's TTLs, the
    horizon and the login window, and the batch size ``n``."""
    return {
        "now": now,
        "idle": policy.idle_ttl,
        "ttl": policy.session_ttl,
        "h": policy.revocation_horizon,
        "window": policy.login_window,
        "n": batch,
    }


class UserWrites:
    """The user writes of a SQL store (``set_password``, ``set_roles``,
    ``set_cutoff``, ``set_ban``, ``lift_ban``): one ``UPDATE users`` each,
    run by the store's :meth:`_user_write`."""

    _dialect: ClassVar[Dialect]
    _rows: ClassVar[Rows]

    async def _user_write(self, sql: str, params: dict[str, Any], *, revokes: bool) -> bool:
        """Run one ``UPDATE users``; whether the user exists. With
        ``revokes``, the statement is run with :data:`USER_STATE` and the
        state it returns is appended to the feed in the same transaction
        (none while the user has no cutoff)."""
        raise NotImplementedError

    async def set_password(
        self, sub: str, password_hash: str, cutoff_at: float | None, keep_sid: str | None
    ) -> bool:
        if cutoff_at is None:  # no revocation, no event
            sql = self._dialect.sql(_SET_PASSWORD)
            return await self._user_write(sql, {"hash": password_hash, "sub": sub}, revokes=False)
        params = {"hash": password_hash, "sub": sub, "at": cutoff_at, "keep": keep_sid}
        return await self._user_write(
            self._dialect.sql(_SET_PASSWORD_AND_CUTOFF), params, revokes=True
        )

    async def set_roles(self, sub: str, roles: tuple[str, ...], cutoff_at: float) -> bool:
        roles_param = self._rows.encode_roles(roles)
        params = {"roles": roles_param, "sub": sub, "at": cutoff_at, "keep": None}
        return await self._user_write(self._dialect.sql(_SET_ROLES), params, revokes=True)

    async def set_cutoff(self, sub: str, cutoff_at: float, keep_sid: str | None) -> bool:
        params = {"sub": sub, "at": cutoff_at, "keep": keep_sid}
        return await self._user_write(self._dialect.sql(_SET_CUTOFF), params, revokes=True)

    async def set_ban(self, sub: str, until: float, cutoff_at: float) -> bool:
        params = {"sub": sub, "until": until, "at": cutoff_at, "keep": None}
        return await self._user_write(self._dialect.sql(_SET_BAN), params, revokes=True)

    async def lift_ban(self, sub: str) -> bool:
        return await self._user_write(self._dialect.sql(_LIFT_BAN), {"sub": sub}, revokes=True)
