"""PostgresStore: the scale-out SQL store, on psycopg 3 and a connection pool.

Every write is one statement (atomic on its own) and the rotation is one
``UPDATE … WHERE sid = %s AND generation = %s AND revoked_at IS NULL
RETURNING …``: row locking makes racing refreshes from any number of
processes produce exactly one rotation (DESIGN property 1). The happy path
of a refresh (:meth:`PostgresStore.rotate_if_live`) is that same
compare-and-swap with the liveness rule in its ``WHERE``, ``UPDATE sessions
… FROM users … RETURNING`` the session and its user: one round trip. The
user row is read, not locked, as by ``get_session`` before a ``rotate``: a
cutoff committed concurrently may miss a rotation already under way, never
one that starts after it. Every hot query (``get_session``, ``rotate``,
``rotate_if_live``, ``revocation_facts``, ``login_failures``,
``find_user``) is an index lookup; ``tests/stores/test_postgres.py`` checks
their plans with ``EXPLAIN``. Times are ``double precision`` epoch seconds,
the very doubles the tokens carry, so equality is exact.

**Schema versions.** Migrations are the ``postgres_NNNN_*.sql`` files beside
this module; ``jwtwarden_schema`` records each one applied.
:meth:`PostgresStore.migrate` applies the pending ones under an advisory
lock (``jwtwarden migrate``). On first use the store checks the version: a
*fresh* schema (no ``jwtwarden_schema`` table at all) is migrated
automatically, since there is nothing to lose; any other version than the one
this code knows, older or newer, raises
:class:`~jwtwarden.errors.ConfigurationError` asking for ``jwtwarden
migrate``, so an upgrade never rewrites a production schema behind the
operator's back. Tables live in the first schema of the ``search_path``;
point a store at its own schema with the libpq option
``?options=-csearch_path%3Dmyschema`` (the tests do, one schema per test).

**The revocation feed** (``revocation_events``, migration 2). Every
revocation write appends its event in the same transaction, so the event
exists exactly when the write committed. Events must also become *visible in
position order*: a follower that has read up to position P must never later
see an event at or below P. A bare sequence does not give that (a
transaction may take position 7, a concurrent one 8, and 8 commit first: a
follower reading then resumes after 8 and never sees 7). So the writer takes
a transaction-scoped advisory lock (one per schema) *after* its revocation
write and before ``nextval``, and holds it until commit: positions are
handed out in commit order, and PostgreSQL releases the lock only once the
commit is visible, so every event below a visible one is visible too. Only
revocation writes take the lock, at revocation rates, for the few
milliseconds between their ``INSERT`` and ``COMMIT``; each waits at most
``timeout`` (``lock_timeout``). The snapshot reads the highest position and
the revocation tables in one statement, so in one MVCC snapshot. The same
transaction sends ``NOTIFY jwtwarden_revocations`` (payload: the schema),
delivered at commit, which :meth:`PostgresStore.wait_for_revocations` waits
on. Events are deleted once they can no longer matter: a ``jti`` event at its
``forget_at``, the others one revocation horizon after they happened.

**Connections.** :func:`~jwtwarden.stores.open_store` is synchronous, so the
pool (``psycopg_pool.AsyncConnectionPool``) opens on first use, one per event
loop: a service may be driven by several loops (``asyncio.run`` per call from
synchronous code), and a psycopg pool belongs to the loop that opened it.
Each call is bounded by ``timeout`` (waiting for a connection, and a server
``statement_timeout``); a dead server or a killed connection raises
:class:`~jwtwarden.errors.StoreUnavailableError`, never a driver exception,
and never "not revoked". A broken connection makes the pool check its idle
connections, and a read is retried once on a fresh one; writes are not
retried (their outcome is unknown), the caller sees the error. The pool
reconnects by itself when the server returns.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..core.clients import Client
from ..core.policy import Policy
from ..core.revocation import NO_REVOCATION, UserRevocation
from ..core.sessions import Session
from ..core.users import User, normalize_username
from ..core.view import RevocationEvent, RevocationSnapshot
from ..errors import ConfigurationError, StoreConflictError, StoreUnavailableError
from ._rows import SESSION_COLUMNS, USER_COLUMNS, session_from, session_row, user_from
from .base import RevocationFacts

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

_MIGRATION = re.compile(r"postgres_(\d{4})_[a-z0-9_]+\.sql")
_PURGE_BATCH = 1000
#: Advisory-lock class of the feed's position order (7262 is the migrators').
_FEED_LOCK = 7263
#: NOTIFY channel of new feed events; the payload is the schema written.
FEED_CHANNEL = "jwtwarden_revocations"
_T = TypeVar("_T")
_Conn = AsyncConnection[TupleRow]
_Pool = AsyncConnectionPool[_Conn]


def _migrations() -> list[tuple[int, str]]:
    """``(version, sql)`` of every migration shipped beside this module."""
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _MIGRATION.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text()))
    return sorted(found)


#: The schema version this code reads and writes.
SCHEMA_VERSION = max(version for version, _ in _migrations())

_SESSION_COLUMNS = SESSION_COLUMNS
_USER_COLUMNS = USER_COLUMNS
# Of two racing cutoffs the later one wins, with its keep_sid. Every SET
# expression sees the row as it was, so both CASEs judge the old cutoff.
_LATER_CUTOFF = (
    "cutoff_at = CASE WHEN cutoff_at > %(at)s THEN cutoff_at ELSE %(at)s END, "
    "keep_sid = CASE WHEN cutoff_at > %(at)s THEN keep_sid ELSE %(keep)s END"
)

# The hot queries, named so the EXPLAIN test checks the very SQL used here.
FIND_USER = f"SELECT {_USER_COLUMNS} FROM users WHERE username_key = %(key)s"
# A session and its user, columns qualified (both tables have ``sub``).
_SESSION_AND_USER = (
    f"{', '.join('s.' + c.strip() for c in _SESSION_COLUMNS.split(','))}, "
    f"{', '.join('u.' + c.strip() for c in _USER_COLUMNS.split(','))}"
)
GET_SESSION = (
    f"SELECT {_SESSION_AND_USER} "
    "FROM sessions s JOIN users u ON u.sub = s.sub WHERE s.sid = %(sid)s"
)
ROTATE = (
    "UPDATE sessions SET generation = generation + 1, rotated_at = %(now)s, "
    "last_used_at = %(now)s "
    "WHERE sid = %(sid)s AND generation = %(gen)s AND revoked_at IS NULL "
    f"RETURNING {_SESSION_COLUMNS}"
)
# The happy path of a refresh: the compare-and-swap of ROTATE guarded by
# every condition under which decide_rotation rotates the current generation,
# joined to the user, in one statement (the sessions and users primary keys).
# Each condition is written as the negation of core's test on the very same
# float8 expressions (``now - last_used_at`` is not rearranged), so the
# boundaries fall exactly where Python puts them. A user with no cutoff, or a
# keep_sid NULL, leaves ``s.sid = u.keep_sid`` NULL, which spares nothing.
# The session's conditions are one ``(…) IS TRUE``, which no index can serve
# and which proves no partial index's predicate: otherwise statistics where
# most sessions are expired (a purge behind) make the planner walk
# sessions_by_expiry instead of looking the sid up in sessions_pkey.
ROTATE_IF_LIVE = (
    "UPDATE sessions s SET generation = s.generation + 1, rotated_at = %(now)s, "
    "last_used_at = %(now)s FROM users u "
    "WHERE s.sid = %(sid)s AND u.sub = s.sub "
    "AND (s.generation = %(gen)s AND s.revoked_at IS NULL AND %(now)s < s.expires_at "
    "AND %(now)s - s.last_used_at < %(idle)s) IS TRUE "
    "AND (u.banned_until IS NULL OR NOT %(now)s < u.banned_until) "
    "AND (u.cutoff_at IS NULL OR NOT s.auth_time < u.cutoff_at OR s.sid = u.keep_sid) "
    f"RETURNING {_SESSION_AND_USER}"
)
REVOCATION_FACTS = (
    "SELECT EXISTS (SELECT 1 FROM denylist WHERE jti = %(jti)s AND forget_at > %(now)s), "
    "EXISTS (SELECT 1 FROM sessions WHERE sid = %(sid)s AND revoked_at IS NOT NULL), "
    "u.cutoff_at, u.keep_sid, u.banned_until "
    "FROM (SELECT 1) AS one LEFT JOIN users u ON u.sub = %(sub)s"
)
LOGIN_FAILURES = (
    "SELECT count(f.at), min(f.at) "
    "FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS k(key, i) "
    "LEFT JOIN login_failures f ON f.key = k.key AND f.at > %(since)s "
    "GROUP BY k.i ORDER BY k.i"
)
# One statement, so one snapshot of the three tables and the feed position
# even in READ COMMITTED.
_SNAPSHOT = (
    "SELECT 'p', coalesce(max(position), 0)::text, NULL::float8, NULL::text, NULL::float8 "
    "FROM revocation_events "
    "UNION ALL SELECT 'd', jti, forget_at, NULL, NULL FROM denylist WHERE forget_at > %(now)s "
    "UNION ALL SELECT 's', sid, revoked_at, NULL, NULL FROM sessions "
    "WHERE revoked_at IS NOT NULL AND revoked_at > %(now)s - %(h)s "
    "UNION ALL SELECT 'u', sub, cutoff_at, keep_sid, banned_until FROM users "
    "WHERE cutoff_at IS NOT NULL AND cutoff_at > %(now)s - %(h)s"
)
_USER_STATE = "RETURNING sub, cutoff_at, keep_sid, banned_until"
_APPEND_EVENT = (
    "INSERT INTO revocation_events (position, kind, key, at, forget_at, keep_sid, banned_until) "
    "VALUES (nextval('revocation_events_position'), %s, %s, %s, %s, %s, %s)"
)
# A jti event matters until its own forget_at, the others one horizon after
# they happened (the horizon is known only when reading).
_EVENT_FORGET_AT = "CASE WHEN kind = 'jti' THEN forget_at ELSE at + %(h)s END"
REVOCATION_CHANGES = (
    "SELECT position, kind, key, at, forget_at, keep_sid, banned_until FROM revocation_events "
    f"WHERE position > %(after)s AND {_EVENT_FORGET_AT} > %(now)s "
    "ORDER BY position LIMIT %(n)s"
)
# Each purge statement deletes one bounded batch, its own short transaction;
# SKIP LOCKED lets several processes purge at once without waiting on each other.
PURGES = (
    "DELETE FROM denylist WHERE jti IN (SELECT jti FROM denylist "
    "WHERE forget_at <= %(now)s LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    "DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions "
    "WHERE revoked_at IS NOT NULL AND revoked_at <= %(now)s - %(h)s "
    "LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    "DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions "
    "WHERE revoked_at IS NULL AND expires_at <= %(now)s LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    "DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions "
    "WHERE revoked_at IS NULL AND last_used_at <= %(now)s - %(idle)s "
    "LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    # A cutoff older than the session lifetime covers only sessions that have
    # expired anyway (the statement above takes them), so old cutoffs are skipped.
    "DELETE FROM sessions WHERE sid IN (SELECT s.sid FROM users u "
    "JOIN sessions s ON s.sub = u.sub WHERE u.cutoff_at IS NOT NULL "
    "AND u.cutoff_at > %(now)s - %(ttl)s AND s.revoked_at IS NULL "
    "AND s.auth_time < u.cutoff_at AND s.sid IS DISTINCT FROM u.keep_sid "
    "LIMIT %(n)s FOR UPDATE OF s SKIP LOCKED)",
    "DELETE FROM login_failures WHERE id IN (SELECT id FROM login_failures "
    "WHERE at <= %(now)s - %(window)s LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    # A jti event's "at" is its forget_at; every other event dies one horizon
    # after its "at", so "at <= now" bounds the index scan for both.
    "DELETE FROM revocation_events WHERE position IN (SELECT position FROM revocation_events "
    "WHERE at <= %(now)s AND (kind = 'jti' OR at <= %(now)s - %(h)s) "
    "LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
)


class PostgresStore:
    """A store in a PostgreSQL database (``postgresql://user@host:port/db``).

    ``timeout`` bounds each call: waiting for a pooled connection, connecting,
    and the server-side ``statement_timeout``. ``max_size`` caps the pool of
    each event loop. With ``auto_migrate`` (the default) a fresh schema is
    created on first use; a schema at another version is always refused.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        max_size: int = 10,
        auto_migrate: bool = True,
    ) -> None:
        params = conninfo_to_dict(url)
        params.setdefault("application_name", "jwtwarden")
        params.setdefault("connect_timeout", max(1, round(timeout)))
        #: libpq connection string; never logged (it may hold a password).
        self._conninfo = make_conninfo("", **params)
        self._timeout = timeout
        self._max_size = max_size
        self._auto_migrate = auto_migrate
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Task[_Pool]] = {}
        self._checked = False

    # connections

    async def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is not None:
            return pool
        task = self._opening.get(loop)
        if task is None:
            task = self._opening[loop] = loop.create_task(self._open_pool())
        try:
            pool = await asyncio.shield(task)
        finally:
            if task.done():
                self._opening.pop(loop, None)
        self._pools[loop] = pool
        return pool

    async def _open_pool(self) -> _Pool:
        pool: _Pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._max_size,
            open=False,
            timeout=self._timeout,
            kwargs={"autocommit": True},
            configure=self._configure,
            name="jwtwarden",
        )
        await pool.open(wait=False)
        try:
            if not self._checked:
                async with asyncio.timeout(self._timeout * 2), pool.connection() as conn:
                    await self._check_schema(conn)
                self._checked = True
        except BaseException:
            await pool.close()
            raise
        return pool

    async def _configure(self, conn: _Conn) -> None:
        ms = int(self._timeout * 1000)
        await conn.execute(f"SET statement_timeout = {ms}; SET lock_timeout = {ms}")

    async def _run(self, fn: Callable[[_Conn], Awaitable[_T]], *, read: bool = False) -> _T:
        """Run ``fn`` on a pooled connection, translating every driver error.

        A read that met a broken connection is tried once more, after the
        pool has weeded out its dead idle connections."""
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(self._timeout * 2):
                    pool = await self._pool()
                    async with pool.connection() as conn:
                        return await fn(conn)
            except psycopg.errors.UniqueViolation as exc:
                raise StoreConflictError(detail=f"postgresql: {exc.diag.constraint_name}") from exc
            except ConfigurationError:
                raise
            except (psycopg.Error, TimeoutError, OSError) as exc:
                # Dead idle connections go either way; only a read is retried.
                weeded = _is_broken_connection(exc) and await self._weed()
                if weeded and read and attempt == 1:
                    continue
                raise StoreUnavailableError(detail=f"postgresql: {_describe(exc)}") from exc
        raise AssertionError("unreachable")

    async def _weed(self) -> bool:
        """Make the pool drop its dead idle connections; False if it cannot."""
        pool = self._pools.get(asyncio.get_running_loop())
        if pool is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                await pool.check()
        except (psycopg.Error, TimeoutError, OSError):
            return False
        return True

    async def _fetchone(self, sql: str, params: Any, *, read: bool = False) -> Any:
        async def fetch(conn: _Conn) -> Any:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()

        return await self._run(fetch, read=read)

    async def _fetchall(self, sql: str, params: Any) -> list[Any]:
        async def fetch(conn: _Conn) -> list[Any]:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

        return await self._run(fetch, read=True)

    async def _changed(self, sql: str, params: Any) -> int:
        async def change(conn: _Conn) -> int:
            cur = await conn.execute(sql, params)
            return cur.rowcount

        return await self._run(change)

    async def ping(self) -> None:
        await self._fetchone("SELECT 1", None, read=True)

    async def close(self) -> None:
        """Close the pool of the running loop; pools of other (finished) loops
        are dropped."""
        loop = asyncio.get_running_loop()
        pool = self._pools.pop(loop, None)
        self._pools.clear()
        for task in self._opening.values():
            task.cancel()
        self._opening.clear()
        if pool is not None:
            await pool.close()

    # schema

    async def migrate(self) -> int:
        """Apply every pending migration, each in its own transaction under an
        advisory lock (two processes migrating at once apply each one once);
        return the schema version now in place.

        Raises ConfigurationError if the schema is newer than this code.
        """

        async def run(conn: _Conn) -> int:
            return await _apply_migrations(conn)

        version = await self._run_unchecked(run)
        self._checked = False
        return version

    async def schema_version(self) -> int | None:
        """The schema version in place; ``None`` for a fresh schema."""
        return await self._run_unchecked(_schema_version)

    async def _run_unchecked(self, fn: Callable[[_Conn], Awaitable[_T]]) -> _T:
        try:
            async with (
                asyncio.timeout(self._timeout * 2),
                await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn,
            ):
                return await fn(conn)
        except ConfigurationError:
            raise
        except (psycopg.Error, TimeoutError, OSError) as exc:
            raise StoreUnavailableError(detail=f"postgresql: {_describe(exc)}") from exc

    async def _check_schema(self, conn: _Conn) -> None:
        version = await _schema_version(conn)
        if version is None and self._auto_migrate:
            version = await _apply_migrations(conn)
        if version != SCHEMA_VERSION:
            raise ConfigurationError(_version_message(version))

    # users

    async def create_user(self, user: User) -> None:
        sql = (
            "INSERT INTO users (sub, username, username_key, password_hash, roles, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)"
        )
        params = (
            user.sub,
            user.username,
            user.username_key,
            user.password_hash,
            list(user.roles),
            user.created_at,
        )
        await self._changed(sql, params)

    async def get_user(self, sub: str) -> User | None:
        sql = f"SELECT {_USER_COLUMNS} FROM users WHERE sub = %s"
        row = await self._fetchone(sql, (sub,), read=True)
        return None if row is None else _user(row)

    async def find_user(self, username: str) -> User | None:
        row = await self._fetchone(FIND_USER, {"key": normalize_username(username)}, read=True)
        return None if row is None else _user(row)

    async def list_users(self) -> list[User]:
        rows = await self._fetchall(
            f"SELECT {_USER_COLUMNS} FROM users ORDER BY created_at, seq", ()
        )
        return [_user(row) for row in rows]

    async def set_password(
        self, sub: str, password_hash: str, cutoff_at: float | None, keep_sid: str | None
    ) -> bool:
        if cutoff_at is None:  # no revocation, no event
            sql = "UPDATE users SET password_hash = %(hash)s WHERE sub = %(sub)s"
            return await self._changed(sql, {"hash": password_hash, "sub": sub}) > 0
        sql = f"UPDATE users SET password_hash = %(hash)s, {_LATER_CUTOFF} WHERE sub = %(sub)s"
        params = {"hash": password_hash, "sub": sub, "at": cutoff_at, "keep": keep_sid}
        return await self._user_write(sql, params)

    async def set_roles(self, sub: str, roles: tuple[str, ...], cutoff_at: float) -> bool:
        sql = f"UPDATE users SET roles = %(roles)s, {_LATER_CUTOFF} WHERE sub = %(sub)s"
        params = {"roles": list(roles), "sub": sub, "at": cutoff_at, "keep": None}
        return await self._user_write(sql, params)

    async def set_cutoff(self, sub: str, cutoff_at: float, keep_sid: str | None) -> bool:
        sql = f"UPDATE users SET {_LATER_CUTOFF} WHERE sub = %(sub)s"
        return await self._user_write(sql, {"sub": sub, "at": cutoff_at, "keep": keep_sid})

    async def set_ban(self, sub: str, until: float, cutoff_at: float) -> bool:
        sql = f"UPDATE users SET banned_until = %(until)s, {_LATER_CUTOFF} WHERE sub = %(sub)s"
        params = {"sub": sub, "until": until, "at": cutoff_at, "keep": None}
        return await self._user_write(sql, params)

    async def lift_ban(self, sub: str) -> bool:
        sql = "UPDATE users SET banned_until = NULL WHERE sub = %(sub)s"
        return await self._user_write(sql, {"sub": sub})

    async def _user_write(self, sql: str, params: dict[str, Any]) -> bool:
        """A change to a user's revocation state and its feed event (the whole
        state after the change; none while the user has no cutoff), in one
        transaction."""

        def event(row: Any) -> tuple[Any, ...] | None:
            sub, cutoff_at, keep_sid, banned_until = row
            return (
                None
                if cutoff_at is None
                else ("user", sub, cutoff_at, None, keep_sid, banned_until)
            )

        return await self._revocation_write(f"{sql} {_USER_STATE}", params, event) is not None

    async def _revocation_write(
        self, sql: str, params: Any, event: Callable[[Any], tuple[Any, ...] | None]
    ) -> Any:
        """Run one revocation write (a statement ``RETURNING`` one row) and
        append the event ``event(row)`` makes of its row, in one transaction;
        return the row."""

        async def write(conn: _Conn) -> Any:
            async with conn.transaction():
                cur = await conn.execute(sql, params)
                row = await cur.fetchone()
                appended = None if row is None else event(row)
                if appended is not None:
                    await _append_event(conn, appended)
            return row

        return await self._run(write)

    # sessions

    async def create_session(self, session: Session) -> None:
        sql = f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})"
        await self._changed(sql, _session_row(session))

    async def get_session(self, sid: str) -> tuple[Session, User] | None:
        row = await self._fetchone(GET_SESSION, {"sid": sid}, read=True)
        return None if row is None else (_session(row[:13]), _user(row[13:]))

    async def rotate(self, sid: str, expected_generation: int, now: float) -> Session | None:
        params = {"now": now, "sid": sid, "gen": expected_generation}
        row = await self._fetchone(ROTATE, params)
        return None if row is None else _session(row)

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
        row = await self._fetchone(ROTATE_IF_LIVE, params)  # a write: never retried
        return None if row is None else (_session(row[:13]), _user(row[13:]))

    async def revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        sql = (
            "UPDATE sessions SET revoked_at = %s, revoke_reason = %s "
            f"WHERE sid = %s AND revoked_at IS NULL RETURNING {_SESSION_COLUMNS}"
        )
        row = await self._revocation_write(
            sql, (now, reason, sid), lambda _: ("sid", sid, now, None, None, None)
        )
        return None if row is None else _session(row)

    async def list_sessions(self, sub: str) -> list[Session]:
        sql = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE sub = %s ORDER BY auth_time, sid"
        return [_session(row) for row in await self._fetchall(sql, (sub,))]

    # access-token revocations

    async def deny_jti(self, jti: str, forget_at: float) -> None:
        sql = (
            "INSERT INTO denylist (jti, forget_at) VALUES (%s, %s) ON CONFLICT (jti) "
            "DO UPDATE SET forget_at = greatest(denylist.forget_at, excluded.forget_at) "
            "RETURNING forget_at"
        )
        await self._revocation_write(
            sql, (jti, forget_at), lambda row: ("jti", jti, row[0], row[0], None, None)
        )

    async def revocation_facts(self, sub: str, sid: str, jti: str, now: float) -> RevocationFacts:
        params = {"jti": jti, "now": now, "sid": sid, "sub": sub}
        row = await self._fetchone(REVOCATION_FACTS, params, read=True)
        assert row is not None
        user = NO_REVOCATION if row[2:] == (None, None, None) else UserRevocation(*row[2:])
        return RevocationFacts(bool(row[0]), bool(row[1]), user)

    async def revocation_snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        snapshot = RevocationSnapshot()
        for kind, key, at, keep_sid, banned_until in await self._fetchall(
            _SNAPSHOT, {"now": now, "h": horizon}
        ):
            if kind == "p":
                snapshot.position = key
            elif kind == "d":
                snapshot.denied[key] = at
            elif kind == "s":
                snapshot.sessions[key] = at + horizon
            else:
                snapshot.users[key] = (UserRevocation(at, keep_sid, banned_until), at + horizon)
        return snapshot

    async def revocation_changes(
        self, after: str | None, now: float, horizon: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        params = {"after": _position(after), "now": now, "h": horizon, "n": limit}
        return [_event(row, horizon) for row in await self._fetchall(REVOCATION_CHANGES, params)]

    async def wait_for_revocations(self, after: str | None, timeout: float) -> None:
        """Return once the feed may hold an event after ``after``, or after
        ``timeout`` seconds: a follower's wait between
        :meth:`revocation_changes` calls instead of polling.

        Listens on its own connection (``LISTEN`` state must not return to
        the pool), then checks the feed, so an event committed in between is
        not missed. Wakes on any event of this schema, so a caller always
        reads the feed after it. Raises StoreUnavailableError.
        """
        start = _position(after)
        if not self._checked:
            await self.ping()  # the schema check, on the pool
        try:
            async with asyncio.timeout(self._timeout * 2):
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except (psycopg.Error, TimeoutError, OSError) as exc:
            raise StoreUnavailableError(detail=f"postgresql: {_describe(exc)}") from exc
        try:
            async with conn:
                await conn.execute(f"LISTEN {FEED_CHANNEL}")
                cur = await conn.execute(
                    "SELECT current_schema(), coalesce(max(position), 0) FROM revocation_events"
                )
                row = await cur.fetchone()
                assert row is not None
                schema, last = row
                if last > start:
                    return
                async for notice in conn.notifies(timeout=timeout):
                    if notice.payload == schema:
                        return
        except (psycopg.Error, OSError) as exc:
            raise StoreUnavailableError(detail=f"postgresql: {_describe(exc)}") from exc

    async def purge_expired(self, now: float, policy: Policy) -> int:
        params = {
            "now": now,
            "idle": policy.idle_ttl,
            "ttl": policy.session_ttl,
            "h": policy.revocation_horizon,
            "window": policy.login_window,
            "n": _PURGE_BATCH,
        }
        total = 0
        for sql in PURGES:
            while True:
                count = await self._purge_batch(sql, params)
                total += count
                if count < _PURGE_BATCH:
                    break
        return total

    async def _purge_batch(self, sql: str, params: dict[str, float]) -> int:
        return await self._changed(sql, params)

    # login throttling

    async def login_failures(
        self, keys: Sequence[str], since: float
    ) -> list[tuple[int, float | None]]:
        rows = await self._fetchall(LOGIN_FAILURES, {"keys": list(keys), "since": since})
        return [(int(count), oldest) for count, oldest in rows]

    async def record_login_failure(self, keys: Sequence[str], now: float, since: float) -> None:
        # One statement: the window slides and the failure counts together.
        sql = (
            "WITH gone AS (DELETE FROM login_failures "
            "WHERE key = ANY(%(keys)s::text[]) AND at <= %(since)s) "
            "INSERT INTO login_failures (key, at) SELECT unnest(%(keys)s::text[]), %(now)s"
        )
        await self._changed(sql, {"keys": list(keys), "since": since, "now": now})

    async def clear_login_failures(self, key: str) -> None:
        await self._changed("DELETE FROM login_failures WHERE key = %s", (key,))

    # resource-server clients

    async def create_client(self, client: Client) -> None:
        sql = (
            "INSERT INTO clients (client_id, name, secret_hash, created_at) VALUES (%s, %s, %s, %s)"
        )
        params = (client.client_id, client.name, client.secret_hash, client.created_at)
        await self._changed(sql, params)

    async def get_client(self, client_id: str) -> Client | None:
        sql = "SELECT client_id, name, secret_hash, created_at FROM clients WHERE client_id = %s"
        row = await self._fetchone(sql, (client_id,), read=True)
        return None if row is None else Client(*row)

    # secret material

    async def load_keyring(self) -> bytes | None:
        sql = "SELECT value FROM meta WHERE name = 'keyring'"
        row = await self._fetchone(sql, None, read=True)
        return None if row is None else bytes(row[0])

    async def save_keyring(self, blob: bytes, expected: bytes | None) -> bool:
        if expected is None:
            sql = "INSERT INTO meta (name, value) VALUES ('keyring', %s) ON CONFLICT DO NOTHING"
            return await self._changed(sql, (blob,)) > 0
        sql = "UPDATE meta SET value = %s WHERE name = 'keyring' AND value = %s"
        return await self._changed(sql, (blob, expected)) > 0


async def _schema_version(conn: _Conn) -> int | None:
    cur = await conn.execute("SELECT to_regclass('jwtwarden_schema') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return None
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM jwtwarden_schema")
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def _apply_migrations(conn: _Conn) -> int:
    version = 0
    for number, sql in _migrations():
        async with conn.transaction():
            # Serialise migrators of this schema; the version is read under the lock.
            await conn.execute("SELECT pg_advisory_xact_lock(7262, hashtext(current_schema()))")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS jwtwarden_schema (version integer PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            version = await _schema_version(conn) or 0
            if version > SCHEMA_VERSION:
                raise ConfigurationError(_version_message(version))
            if number <= version:
                continue
            await conn.execute(sql.encode())
            await conn.execute("INSERT INTO jwtwarden_schema (version) VALUES (%s)", (number,))
            version = number
    return version


async def _append_event(conn: _Conn, event: tuple[Any, ...]) -> None:
    """Append a feed event inside the caller's transaction.

    The advisory lock, held until commit, makes positions commit in order:
    ``nextval`` alone does not (see the module docstring). It is taken after
    the revocation write, so the serialised part is this short tail of the
    transaction. Pipelined: the server runs the statements in order.
    """
    async with conn.pipeline():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (_FEED_LOCK,)
        )
        await conn.execute(_APPEND_EVENT, event)
        await conn.execute("SELECT pg_notify(%s, current_schema())", (FEED_CHANNEL,))


def _position(after: str | None) -> int:
    """A feed position from its opaque string; anything else reads from the start."""
    return int(after) if after is not None and after.isdigit() else 0


def _event(row: Any, horizon: float) -> RevocationEvent:
    position, kind, key, at, forget_at, keep_sid, banned_until = row
    user = UserRevocation(at, keep_sid, banned_until) if kind == "user" else None
    forget = forget_at if kind == "jti" else at + horizon
    return RevocationEvent(str(position), kind, key, forget, user, at if kind == "store" else None)


def _version_message(version: int | None) -> str:
    if version is not None and version > SCHEMA_VERSION:
        return (
            f"the PostgreSQL schema is at version {version}, newer than this jwtwarden "
            f"knows ({SCHEMA_VERSION}): upgrade jwtwarden (the newer release's "
            "`jwtwarden migrate` made it)"
        )
    return (
        f"the PostgreSQL schema is at version {version or 0}; this jwtwarden needs "
        f"{SCHEMA_VERSION}: run `jwtwarden migrate` (after a backup)"
    )


def _is_broken_connection(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, PoolTimeout | psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else 'timed out'}"


def _session_row(s: Session) -> tuple[Any, ...]:
    return session_row(s)


def _session(row: Any) -> Session:
    return session_from(row)


def _user(row: Any) -> User:
    return user_from(row, tuple(row[3]))
