"""Rows <-> records for the two SQL stores (SQLite and PostgreSQL share the
column order; only how ``roles`` is stored differs)."""

from __future__ import annotations

from typing import Any

from ..core.revocation import UserRevocation
from ..core.sessions import Session
from ..core.users import User

SESSION_COLUMNS = (
    "sid, sub, generation, salt, auth_time, expires_at, last_used_at, rotated_at, "
    "revoked_at, revoke_reason, ip, user_agent, client_id"
)
USER_COLUMNS = "sub, username, password_hash, roles, created_at, cutoff_at, keep_sid, banned_until"
#: How many columns a session row has (a joined row is session + user).
SESSION_WIDTH = 13


def session_row(s: Session) -> tuple[Any, ...]:
    return (
        s.sid,
        s.sub,
        s.generation,
        s.salt,
        s.auth_time,
        s.expires_at,
        s.last_used_at,
        s.rotated_at,
        s.revoked_at,
        s.revoke_reason,
        s.ip,
        s.user_agent,
        s.client_id,
    )


def session_from(row: Any) -> Session:
    return Session(row[0], row[1], row[2], bytes(row[3]), *row[4:SESSION_WIDTH])


def user_from(row: Any, roles: tuple[str, ...]) -> User:
    """A user from a row; ``roles`` already decoded by the store."""
    sub, username, password_hash, _, created_at, cutoff_at, keep_sid, banned_until = row
    return User(
        sub,
        username,
        password_hash,
        roles,
        created_at,
        UserRevocation(cutoff_at, keep_sid, banned_until),
    )
