"""Rows <-> records for the two SQL stores. SQLite and PostgreSQL share the
column order and the feed's row shape; only how ``roles`` is stored differs
(a JSON text, a ``text[]``), so each store builds one :class:`Rows`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.clients import Client
from ..core.revocation import UserRevocation
from ..core.sessions import Session
from ..core.users import User
from ..core.view import RevocationEvent, event_forget_at

SESSION_COLUMNS = (
    "sid, sub, generation, salt, auth_time, expires_at, last_used_at, rotated_at, "
    "revoked_at, revoke_reason, ip, user_agent, client_id, claims, jkt"
)
#: A client row (``issues_sessions``, ``session_roles`` and ``jwks`` since
#: the JWT-bearer grant, ``require_dpop`` since DPoP).
CLIENT_COLUMNS = (
    "client_id, name, secret_hash, created_at, issues_sessions, session_roles, jwks, require_dpop"
)
USER_COLUMNS = "sub, username, password_hash, roles, created_at, cutoff_at, keep_sid, banned_until"
#: How many columns a session row has (a joined row is session + user).
SESSION_WIDTH = 15


def qualified(alias: str, columns: str) -> str:
    """``columns`` prefixed with a table alias (``s.sid, s.sub, …``)."""
    return ", ".join(f"{alias}.{name.strip()}" for name in columns.split(","))


#: A session and its user, qualified (both tables have ``sub``).
SESSION_AND_USER_COLUMNS = f"{qualified('s', SESSION_COLUMNS)}, {qualified('u', USER_COLUMNS)}"


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
        s.claims,
        s.jkt,
    )


def session_from(row: Any) -> Session:
    return Session(row[0], row[1], row[2], bytes(row[3]), *row[4:SESSION_WIDTH])


@dataclass(frozen=True, slots=True)
class Rows:
    """The user and client mapping of one SQL store, given how it stores
    ``roles``."""

    #: ``roles`` as the driver binds them.
    encode_roles: Callable[[tuple[str, ...]], Any]
    #: ``roles`` from the column's value.
    decode_roles: Callable[[Any], tuple[str, ...]]

    def user(self, row: Any) -> User:
        sub, username, password_hash, roles, created_at, cutoff_at, keep_sid, banned_until = row
        return User(
            sub,
            username,
            password_hash,
            self.decode_roles(roles),
            created_at,
            UserRevocation(cutoff_at, keep_sid, banned_until),
        )

    def user_params(self, user: User) -> dict[str, Any]:
        """The parameters of ``_sql.NEW_USER``."""
        return {
            "sub": user.sub,
            "username": user.username,
            "key": user.username_key,
            "hash": user.password_hash,
            "roles": self.encode_roles(user.roles),
            "created": user.created_at,
        }

    def session_and_user(self, row: Any) -> tuple[Session, User]:
        """A row of :data:`SESSION_AND_USER_COLUMNS`."""
        return session_from(row[:SESSION_WIDTH]), self.user(row[SESSION_WIDTH:])

    def client_row(self, c: Client) -> tuple[Any, ...]:
        """The values of :data:`CLIENT_COLUMNS`."""
        roles = self.encode_roles(c.session_roles)
        return (
            c.client_id, c.name, c.secret_hash, c.created_at, c.issues_sessions, roles, c.jwks,
            c.require_dpop,
        )  # fmt: skip

    def client(self, row: Any) -> Client:
        """A row of :data:`CLIENT_COLUMNS`."""
        client_id, name, secret_hash, created_at, issues, roles, jwks, require_dpop = row
        return Client(
            client_id, name, secret_hash, created_at, bool(issues), self.decode_roles(roles), jwks,
            bool(require_dpop),
        )  # fmt: skip


def event_from(
    position: int,
    kind: str,
    key: str,
    at: float,
    forget_at: float | None,
    user: UserRevocation | None,
    horizon: float,
) -> RevocationEvent:
    """A feed event from its row; ``user`` is the state a ``user`` event
    carries (the stores keep it in different columns)."""
    return RevocationEvent(
        str(position),
        kind,
        key,
        event_forget_at(kind, at, forget_at, horizon),
        user if kind == "user" else None,
        at if kind == "store" else None,
    )


def feed_position(after: str | None) -> int:
    """A feed position from its opaque string; anything else reads from the start."""
    return int(after) if after is not None and after.isdigit() else 0
