"""PostgresStore: the operations of the PostgreSQL store, each one statement
or one short transaction on a pooled connection (docs/stores.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ...core.clients import Client
from ...core.policy import Policy
from ...core.revocation import NO_REVOCATION, UserRevocation
from ...core.sessions import Session
from ...core.users import User, normalize_username
from ...core.view import RevocationEvent, RevocationSnapshot
from .._rows import CLIENT_COLUMNS, Rows, feed_position, session_from, session_row
from .._sql import PSYCOPG, REMEMBER_ONCE, USER_STATE, Dialect, UserWrites, purge_params
from ..base import RevocationFacts
from ..breaker import BreakerPolicy
from .connection import Conn, Connections, translated
from .feed import append_event, events_from, snapshot_from, wait_for_event
from .migrations import apply_migrations, check_schema, schema_version
from .queries import (
    DENY_JTI,
    FIND_USER,
    GET_SESSION,
    GET_USER,
    LIST_SESSIONS,
    LIST_USERS,
    LOGIN_FAILURES,
    NEW_SESSION,
    NEW_USER,
    PURGES,
    RECORD_LOGIN_FAILURE,
    REVOCATION_CHANGES,
    REVOCATION_FACTS,
    REVOKE_SESSION,
    ROTATE,
    ROTATE_IF_LIVE,
    SNAPSHOT,
)

__all__ = ["PostgresStore"]

#: Rows a purge statement deletes at most, each batch its own transaction.
_PURGE_BATCH = 1000


class PostgresStore(UserWrites):
    """A store in a PostgreSQL database (``postgresql://user@host:port/db``).

    ``timeout`` bounds each call: waiting for a pooled connection, connecting,
    and the server-side ``statement_timeout``. ``max_size`` caps the pool of
    each event loop. With ``auto_migrate`` (the default) a fresh schema is
    created on first use; a schema at another version is always refused.
    ``breaker`` says when the server counts as down (:mod:`..breaker`).
    """

    _dialect: ClassVar[Dialect] = PSYCOPG
    _rows: ClassVar[Rows] = Rows(encode_roles=list, decode_roles=tuple)

    def __init__(
        self,
        url: str,
        *,
        policy: Policy | None = None,
        timeout: float = 5.0,
        max_size: int = 10,
        auto_migrate: bool = True,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        #: The policy the store was opened with.
        self.policy = policy or Policy()
        self._auto_migrate = auto_migrate
        self._db = Connections(
            url, timeout=timeout, max_size=max_size, check=self._check_schema, breaker=breaker
        )

    async def _check_schema(self, conn: Conn) -> None:
        await check_schema(conn, auto_migrate=self._auto_migrate)

    async def ping(self) -> None:
        await self._db.fetchone("SELECT 1", None, read=True)

    async def close(self) -> None:
        """Close the pool of the running loop; pools of other (finished) loops
        are dropped."""
        await self._db.close()

    # schema

    async def migrate(self) -> int:
        """Apply every pending migration, each in its own transaction under an
        advisory lock (two processes migrating at once apply each one once);
        return the schema version now in place.

        Raises ConfigurationError if the schema is newer than this code.
        """
        version = await self._db.run_unchecked(apply_migrations)
        self._db.checked = False
        return version

    async def schema_version(self) -> int | None:
        """The schema version in place; ``None`` for a fresh schema."""
        return await self._db.run_unchecked(schema_version)

    # users

    async def create_user(self, user: User) -> None:
        await self._db.changed(NEW_USER, self._rows.user_params(user))

    async def get_user(self, sub: str) -> User | None:
        row = await self._db.fetchone(GET_USER, (sub,), read=True)
        return None if row is None else self._rows.user(row)

    async def find_user(self, username: str) -> User | None:
        params = {"key": normalize_username(username)}
        row = await self._db.fetchone(FIND_USER, params, read=True)
        return None if row is None else self._rows.user(row)

    async def list_users(self) -> list[User]:
        return [self._rows.user(row) for row in await self._db.fetchall(LIST_USERS, ())]

    async def _user_write(self, sql: str, params: dict[str, Any], *, revokes: bool) -> bool:
        if not revokes:
            return await self._db.changed(sql, params) > 0

        def event(row: Any) -> tuple[Any, ...] | None:
            sub, cutoff_at, keep_sid, banned_until = row
            if cutoff_at is None:  # no cutoff: nothing a verifier must know
                return None
            return ("user", sub, cutoff_at, None, keep_sid, banned_until)

        row = await self._revocation_write(f"{sql} {USER_STATE}", params, event)
        return row is not None

    async def _revocation_write(
        self, sql: str, params: Any, event: Callable[[Any], tuple[Any, ...] | None]
    ) -> Any:
        """Run one revocation write (a statement ``RETURNING`` one row) and
        append the event ``event(row)`` makes of its row, in one transaction;
        return the row."""

        async def write(conn: Conn) -> Any:
            async with conn.transaction():
                cur = await conn.execute(sql, params)
                row = await cur.fetchone()
                appended = None if row is None else event(row)
                if appended is not None:
                    await append_event(conn, appended)
            return row

        return await self._db.run(write)

    # sessions

    async def create_session(self, session: Session) -> None:
        await self._db.changed(NEW_SESSION, session_row(session))

    async def get_session(self, sid: str) -> tuple[Session, User] | None:
        row = await self._db.fetchone(GET_SESSION, {"sid": sid}, read=True)
        return None if row is None else self._rows.session_and_user(row)

    async def rotate(self, sid: str, expected_generation: int, now: float) -> Session | None:
        params = {"now": now, "sid": sid, "gen": expected_generation}
        row = await self._db.fetchone(ROTATE, params)
        return None if row is None else session_from(row)

    async def rotate_if_live(
        self, sid: str, expected_generation: int, now: float, idle_ttl: float
    ) -> tuple[Session, User] | None:
        # Floats are sent as float8, so every comparison is in doubles.
        params = {
            "now": float(now),
            "sid": sid,
            "gen": expected_generation,
            "idle": float(idle_ttl),
        }
        row = await self._db.fetchone(ROTATE_IF_LIVE, params)  # a write: never retried
        return None if row is None else self._rows.session_and_user(row)

    async def revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        row = await self._revocation_write(
            REVOKE_SESSION,
            {"now": now, "reason": reason, "sid": sid},
            lambda _: ("sid", sid, now, None, None, None),
        )
        return None if row is None else session_from(row)

    async def list_sessions(self, sub: str) -> list[Session]:
        return [session_from(row) for row in await self._db.fetchall(LIST_SESSIONS, (sub,))]

    # access-token revocations

    async def deny_jti(self, jti: str, forget_at: float) -> None:
        await self._revocation_write(
            DENY_JTI, (jti, forget_at), lambda row: ("jti", jti, row[0], row[0], None, None)
        )

    async def revocation_facts(self, sub: str, sid: str, jti: str, now: float) -> RevocationFacts:
        params = {"jti": jti, "now": now, "sid": sid, "sub": sub}
        row = await self._db.fetchone(REVOCATION_FACTS, params, read=True)
        assert row is not None
        user = NO_REVOCATION if row[2:] == (None, None, None) else UserRevocation(*row[2:])
        return RevocationFacts(bool(row[0]), bool(row[1]), user)

    async def revocation_snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        rows = await self._db.fetchall(SNAPSHOT, {"now": now, "h": horizon})
        return snapshot_from(rows, horizon)

    async def revocation_changes(
        self, after: str | None, now: float, horizon: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        params = {"after": feed_position(after), "now": now, "h": horizon, "n": limit}
        return events_from(await self._db.fetchall(REVOCATION_CHANGES, params), horizon)

    async def wait_for_revocations(self, after: str | None, timeout: float) -> None:
        """Return once the feed may hold an event after ``after``, or after
        ``timeout`` seconds: a follower's wait between
        :meth:`revocation_changes` calls instead of polling.

        Listens on its own connection (``LISTEN`` state must not return to
        the pool), then checks the feed, so an event committed in between is
        not missed. Wakes on any event of this schema, so a caller always
        reads the feed after it. Raises StoreUnavailableError.
        """
        start = feed_position(after)
        if not self._db.checked:
            await self.ping()  # the schema check, on the pool
        conn = await self._db.connect()
        with translated():
            async with conn:
                await wait_for_event(conn, start, timeout)

    async def purge_expired(self, now: float, policy: Policy) -> int:
        params = purge_params(now, policy, _PURGE_BATCH)
        total = 0
        for sql in PURGES:
            while True:
                count = await self._purge_batch(sql, params)
                total += count
                if count < _PURGE_BATCH:
                    break
        return total

    async def _purge_batch(self, sql: str, params: dict[str, float]) -> int:
        return await self._db.changed(sql, params)

    # login throttling

    async def login_failures(
        self, keys: Sequence[str], since: float
    ) -> list[tuple[int, float | None]]:
        rows = await self._db.fetchall(LOGIN_FAILURES, {"keys": list(keys), "since": since})
        return [(int(count), oldest) for count, oldest in rows]

    async def record_login_failure(self, keys: Sequence[str], now: float, since: float) -> None:
        params = {"keys": list(keys), "since": since, "now": now}
        await self._db.changed(RECORD_LOGIN_FAILURE, params)

    async def clear_login_failures(self, key: str) -> None:
        await self._db.changed("DELETE FROM login_failures WHERE key = %s", (key,))

    # resource-server clients

    async def create_client(self, client: Client) -> None:
        sql = f"INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ({PSYCOPG.values(8)})"
        await self._db.changed(sql, self._rows.client_row(client))

    async def get_client(self, client_id: str) -> Client | None:
        sql = f"SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = %s"
        row = await self._db.fetchone(sql, (client_id,), read=True)
        return None if row is None else self._rows.client(row)

    # single-use ids

    async def remember_once(self, namespace: str, key: str, now: float, until: float) -> bool:
        params = {"ns": namespace, "key": key, "now": now, "until": until}
        return await self._db.changed(PSYCOPG.sql(REMEMBER_ONCE), params) > 0

    # secret material

    async def load_keyring(self) -> bytes | None:
        sql = "SELECT value FROM meta WHERE name = 'keyring'"
        row = await self._db.fetchone(sql, None, read=True)
        return None if row is None else bytes(row[0])

    async def save_keyring(self, blob: bytes, expected: bytes | None) -> bool:
        if expected is None:
            sql = "INSERT INTO meta (name, value) VALUES ('keyring', %s) ON CONFLICT DO NOTHING"
            return await self._db.changed(sql, (blob,)) > 0
        sql = "UPDATE meta SET value = %s WHERE name = 'keyring' AND value = %s"
        return await self._db.changed(sql, (blob, expected)) > 0
