"""SqliteStore: the embedded default, one file, several processes.

A WAL journal, one statement per write (the rotation a compare-and-swap
``UPDATE … RETURNING``), reads inline on a read-only connection and writes
on one thread per store, so the event loop never waits on the file lock.
Durability and the reasons for each connection: docs/stores.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..core.clients import Client
from ..core.policy import Policy
from ..core.revocation import UserRevocation
from ..core.sessions import Session
from ..core.users import User, normalize_username
from ..core.view import RevocationEvent, RevocationSnapshot, event_forget_at
from ..errors import ConfigurationError, StoreConflictError, StoreUnavailableError
from . import _sql
from ._rows import (
    CLIENT_COLUMNS,
    SESSION_AND_USER_COLUMNS,
    SESSION_COLUMNS,
    SESSION_WIDTH,
    USER_COLUMNS,
    Rows,
    event_from,
    feed_position,
    session_from,
    session_row,
)
from ._sql import EVENT_FORGET_AT, SQLITE, USER_STATE, Dialect, UserWrites, purge_params
from .base import RevocationFacts

__all__ = ["SqliteStore"]

SCHEMA_VERSION = 5
#: Columns added after a table was first created: ``(table, column, type)``.
#: An older file gets them by ``ALTER TABLE … ADD COLUMN`` (a new one has
#: them in ``sqlite_schema.sql`` already), so existing databases keep working.
_ADDED_COLUMNS = (
    ("sessions", "claims", "TEXT"),  # 3
    ("clients", "issues_sessions", "INTEGER NOT NULL DEFAULT 0"),  # 4
    ("clients", "session_roles", "TEXT NOT NULL DEFAULT '[]'"),
    ("clients", "jwks", "TEXT"),
    ("sessions", "jkt", "TEXT"),  # 5
    ("clients", "require_dpop", "INTEGER NOT NULL DEFAULT 0"),
)
_PURGE_BATCH = 1000
_T = TypeVar("_T")

_GET_USER = f"SELECT {USER_COLUMNS} FROM users WHERE sub = ?"
_NEW_SESSION = f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({SQLITE.values(SESSION_WIDTH)})"
_GET_SESSION = (
    f"SELECT {SESSION_AND_USER_COLUMNS} "
    "FROM sessions s JOIN users u ON u.sub = s.sub WHERE s.sid = ?"
)
_ROTATE = SQLITE.sql(_sql.ROTATE)
_FORGET_AT = SQLITE.sql(EVENT_FORGET_AT)
# Mirrors jwtwarden.core.rotation.rotates_now: the compare-and-swap of
# _ROTATE guarded by every condition under which decide_rotation rotates.
# RETURNING cannot name the user's columns, so the user is read after it.
_ROTATE_IF_LIVE = (
    "UPDATE sessions SET generation = generation + 1, rotated_at = :now, "
    "last_used_at = :now WHERE sid = :sid AND generation = :gen AND revoked_at IS NULL "
    "AND :now < expires_at AND :now - last_used_at < :idle AND EXISTS (SELECT 1 "
    "FROM users u WHERE u.sub = sessions.sub "
    "AND (u.banned_until IS NULL OR :now >= u.banned_until) "
    "AND (u.cutoff_at IS NULL OR auth_time >= u.cutoff_at "
    "OR sessions.sid = u.keep_sid)) "
    f"RETURNING {SESSION_COLUMNS}"
)


# Each purge statement deletes one bounded batch (see _purge).
_PURGES = (
    "DELETE FROM denylist WHERE jti IN (SELECT jti FROM denylist WHERE forget_at <= :now LIMIT :n)",
    # Mirrors jwtwarden.core.sessions.is_purgeable.
    "DELETE FROM sessions WHERE sid IN (SELECT s.sid FROM sessions s "
    "LEFT JOIN users u ON u.sub = s.sub WHERE "
    "(s.revoked_at IS NOT NULL AND s.revoked_at <= :now - :h) "
    "OR (s.revoked_at IS NULL AND (s.expires_at <= :now "
    "OR s.last_used_at <= :now - :idle "
    "OR u.sub IS NULL OR (s.auth_time < u.cutoff_at AND s.sid IS NOT u.keep_sid))) "
    "LIMIT :n)",
    "DELETE FROM seen_once WHERE (namespace, key) IN (SELECT namespace, key FROM seen_once "
    "WHERE until <= :now LIMIT :n)",
    "DELETE FROM login_failures WHERE rowid IN "
    "(SELECT rowid FROM login_failures WHERE at <= :now - :window LIMIT :n)",
    # Mirrors jwtwarden.core.view.event_forget_at.
    "DELETE FROM revocation_events WHERE position IN (SELECT position FROM "
    "revocation_events WHERE (kind = 'jti' AND forget_at <= :now) "
    "OR (kind != 'jti' AND at <= :now - :h) LIMIT :n)",
)


def _json_roles(roles: tuple[str, ...]) -> str:
    return json.dumps(list(roles))


def _roles_from_json(value: str) -> tuple[str, ...]:
    return tuple(json.loads(value))


class SqliteStore(UserWrites):
    """A store in one SQLite file (``sqlite:///path``)."""

    _dialect: ClassVar[Dialect] = SQLITE
    _rows: ClassVar[Rows] = Rows(encode_roles=_json_roles, decode_roles=_roles_from_json)

    def __init__(
        self, path: str, *, policy: Policy | None = None, busy_timeout: float = 10.0
    ) -> None:
        #: The policy the store was opened with.
        self.policy = policy or Policy()
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jwtwarden-sqlite")
        if path == ":memory:":
            raise ConfigurationError("use memory:// for an in-memory store")
        self._conn: sqlite3.Connection = self._executor.submit(self._connect, busy_timeout).result()
        # Reads run inline on a read-only connection: a WAL read never waits
        # for a writer, and costs less than a hop to the writer thread.
        self._reader = sqlite3.connect(
            path, timeout=1.0, isolation_level=None, check_same_thread=False
        )
        self._reader.execute("PRAGMA query_only = 1")
        self._reading = threading.Lock()
        # Hot single-statement writes try inline on a connection that never
        # waits (timeout 0); under another process's lock, the writer thread.
        self._eager = sqlite3.connect(
            path, timeout=0, isolation_level=None, check_same_thread=False
        )
        self._eager.execute("PRAGMA synchronous=NORMAL")  # per connection, like the writer's
        self._writing = threading.Lock()

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        # The file holds password hashes: create it private (SQLite gives its
        # -wal and -shm files the same mode).
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        try:
            conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"{self.path} has schema version {version}; this jwtwarden knows "
                    f"{SCHEMA_VERSION}. Upgrade jwtwarden."
                )
            if version < SCHEMA_VERSION:
                _upgrade(conn)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(detail=f"sqlite open {self.path}: {exc}") from exc
        return conn

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _guarded, fn, *args)

    def _execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    async def ping(self) -> None:
        await self._run(lambda: self._execute("SELECT 1").fetchone())

    async def close(self) -> None:
        with self._reading:
            self._reader.close()
        with self._writing:
            self._eager.close()
        await self._run(self._conn.close)
        self._executor.shutdown(wait=True)

    # users

    async def create_user(self, user: User) -> None:
        await self._run(self._execute, SQLITE.sql(_sql.NEW_USER), self._rows.user_params(user))

    async def get_user(self, sub: str) -> User | None:
        row = self._read_one(_GET_USER, (sub,))
        return None if row is None else self._rows.user(row)

    async def find_user(self, username: str) -> User | None:
        sql = f"SELECT {USER_COLUMNS} FROM users WHERE username_key = ?"
        row = self._read_one(sql, (normalize_username(username),))
        return None if row is None else self._rows.user(row)

    async def list_users(self) -> list[User]:
        rows = self._read_all(f"SELECT {USER_COLUMNS} FROM users ORDER BY created_at", ())
        return [self._rows.user(row) for row in rows]

    async def _user_write(self, sql: str, params: dict[str, Any], *, revokes: bool) -> bool:
        if not revokes:
            return await self._changed(sql, params)
        return await self._run(self._write_user_state, sql, params)

    def _write_user_state(self, sql: str, params: dict[str, Any]) -> bool:
        """A change to a user's revocation state and its feed event (none
        while the user has no cutoff), in one transaction."""
        with self._transaction():
            row = self._execute(f"{sql} {USER_STATE}", params).fetchone()
            if row is not None and row[1] is not None:
                self._execute(
                    "INSERT INTO revocation_events (kind, key, at, cutoff_at, keep_sid, "
                    "banned_until) VALUES ('user', ?, ?, ?, ?, ?)",
                    (row[0], row[1], row[1], row[2], row[3]),
                )
        return row is not None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._execute("ROLLBACK")
            raise
        self._execute("COMMIT")

    # sessions

    async def create_session(self, session: Session) -> None:
        await self._write_one(_NEW_SESSION, session_row(session))

    async def get_session(self, sid: str) -> tuple[Session, User] | None:
        row = self._read_one(_GET_SESSION, (sid,))
        return None if row is None else self._rows.session_and_user(row)

    async def rotate(self, sid: str, expected_generation: int, now: float) -> Session | None:
        params = {"now": now, "sid": sid, "gen": expected_generation}
        row = await self._write_one(_ROTATE, params)
        return None if row is None else session_from(row)

    async def rotate_if_live(
        self, sid: str, expected_generation: int, now: float, idle_ttl: float
    ) -> tuple[Session, User] | None:
        params = {"now": now, "sid": sid, "gen": expected_generation, "idle": idle_ttl}
        row = await self._write_one(_ROTATE_IF_LIVE, params)
        if row is None:
            return None
        session = session_from(row)
        user_row = self._read_one(_GET_USER, (session.sub,))
        return None if user_row is None else (session, self._rows.user(user_row))

    async def revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        return await self._run(self._revoke_session, sid, now, reason)

    def _revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        params = {"now": now, "reason": reason, "sid": sid}
        with self._transaction():
            row = self._execute(SQLITE.sql(_sql.REVOKE_SESSION), params).fetchone()
            if row is not None:
                self._execute(
                    "INSERT INTO revocation_events (kind, key, at) VALUES ('sid', ?, ?)",
                    (sid, now),
                )
        return None if row is None else session_from(row)

    async def list_sessions(self, sub: str) -> list[Session]:
        sql = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE sub = ? ORDER BY auth_time"
        return [session_from(row) for row in self._read_all(sql, (sub,))]

    # access-token revocations

    async def deny_jti(self, jti: str, forget_at: float) -> None:
        await self._run(self._deny_jti, jti, forget_at)

    def _deny_jti(self, jti: str, forget_at: float) -> None:
        sql = (
            "INSERT INTO denylist (jti, forget_at) VALUES (?, ?) "
            "ON CONFLICT (jti) DO UPDATE SET forget_at = max(forget_at, excluded.forget_at) "
            "RETURNING forget_at"
        )
        with self._transaction():
            (kept,) = self._execute(sql, (jti, forget_at)).fetchone()
            self._execute(
                "INSERT INTO revocation_events (kind, key, at, forget_at) VALUES ('jti', ?, ?, ?)",
                (jti, kept, kept),
            )

    async def revocation_facts(self, sub: str, sid: str, jti: str, now: float) -> RevocationFacts:
        sql = (
            "SELECT EXISTS (SELECT 1 FROM denylist WHERE jti = :jti AND forget_at > :now), "
            "EXISTS (SELECT 1 FROM sessions WHERE sid = :sid AND revoked_at IS NOT NULL), "
            "(SELECT cutoff_at FROM users WHERE sub = :sub), "
            "(SELECT keep_sid FROM users WHERE sub = :sub), "
            "(SELECT banned_until FROM users WHERE sub = :sub)"
        )
        row = self._read_one(sql, {"jti": jti, "now": now, "sid": sid, "sub": sub})
        assert row is not None
        return RevocationFacts(bool(row[0]), bool(row[1]), UserRevocation(*row[2:]))

    async def revocation_snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        return await self._run(self._snapshot, now, horizon)

    def _snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        snapshot = RevocationSnapshot()
        self._execute("BEGIN")  # one consistent read: the position and the tables
        try:
            (position,) = self._execute(
                "SELECT coalesce(max(position), 0) FROM revocation_events"
            ).fetchone()
            snapshot.position = str(position)
            rows = self._execute("SELECT jti, forget_at FROM denylist WHERE forget_at > ?", (now,))
            snapshot.denied = dict(rows.fetchall())
            # The horizon filters mirror jwtwarden.core.view.event_forget_at.
            rows = self._execute(
                "SELECT sid, revoked_at FROM sessions WHERE revoked_at IS NOT NULL "
                "AND revoked_at > :now - :h",
                {"h": horizon, "now": now},
            )
            snapshot.sessions = {
                sid: event_forget_at("sid", at, None, horizon) for sid, at in rows.fetchall()
            }
            rows = self._execute(
                "SELECT sub, cutoff_at, keep_sid, banned_until FROM users "
                "WHERE cutoff_at IS NOT NULL AND cutoff_at > :now - :h",
                {"h": horizon, "now": now},
            )
            for sub, cutoff_at, keep_sid, banned_until in rows.fetchall():
                snapshot.users[sub] = (
                    UserRevocation(cutoff_at, keep_sid, banned_until),
                    event_forget_at("user", cutoff_at, None, horizon),
                )
        finally:
            self._execute("COMMIT")
        return snapshot

    async def revocation_changes(
        self, after: str | None, now: float, horizon: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        # Dead events are filtered in SQL, before the limit, so a run of them
        # can never fill a page and stall a follower.
        sql = (
            "SELECT position, kind, key, at, forget_at, cutoff_at, keep_sid, banned_until "
            f"FROM revocation_events WHERE position > :after AND {_FORGET_AT} > :now "
            "ORDER BY position LIMIT :limit"
        )
        params = {"after": feed_position(after), "now": now, "h": horizon, "limit": limit}
        return [
            event_from(position, kind, key, at, forget_at, UserRevocation(*user), horizon)
            for position, kind, key, at, forget_at, *user in self._read_all(sql, params)
        ]

    async def purge_expired(self, now: float, policy: Policy) -> int:
        params = purge_params(now, policy, _PURGE_BATCH)
        total = 0
        for sql in _PURGES:
            total += await self._run(self._purge, sql, params)
        return total

    def _purge(self, sql: str, params: dict[str, float]) -> int:
        """Delete in bounded batches, each its own short transaction, so a
        large purge never holds the write lock for long."""
        total = 0
        while True:
            count = self._execute(sql, params).rowcount
            total += count
            if count < _PURGE_BATCH:
                return total

    # login throttling

    async def login_failures(
        self, keys: Sequence[str], since: float
    ) -> list[tuple[int, float | None]]:
        sql = "SELECT count(*), min(at) FROM login_failures WHERE key = ? AND at > ?"
        return [tuple(self._read_one(sql, (key, since))) for key in keys]

    async def record_login_failure(self, keys: Sequence[str], now: float, since: float) -> None:
        def record() -> None:
            with self._transaction():
                for key in keys:
                    self._execute(
                        "DELETE FROM login_failures WHERE key = ? AND at <= ?", (key, since)
                    )
                    self._execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", (key, now))

        await self._run(record)

    async def clear_login_failures(self, key: str) -> None:
        await self._run(self._execute, "DELETE FROM login_failures WHERE key = ?", (key,))

    # resource-server clients

    async def create_client(self, client: Client) -> None:
        sql = f"INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ({SQLITE.values(8)})"
        await self._run(self._execute, sql, self._rows.client_row(client))

    async def get_client(self, client_id: str) -> Client | None:
        sql = f"SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?"
        row = self._read_one(sql, (client_id,))
        return None if row is None else self._rows.client(row)

    # single-use ids

    async def remember_once(self, namespace: str, key: str, now: float, until: float) -> bool:
        row = await self._write_one(
            SQLITE.sql(_sql.REMEMBER_ONCE),
            {"ns": namespace, "key": key, "now": now, "until": until},
        )
        return row is not None

    # secret material

    async def load_keyring(self) -> bytes | None:
        row = self._read_one("SELECT value FROM meta WHERE name = 'keyring'", ())
        return None if row is None else bytes(row[0])

    async def save_keyring(self, blob: bytes, expected: bytes | None) -> bool:
        if expected is None:
            sql, params = "INSERT OR IGNORE INTO meta (name, value) VALUES ('keyring', ?)", (blob,)
        else:
            sql = "UPDATE meta SET value = ? WHERE name = 'keyring' AND value = ?"
            params = (blob, expected)  # type: ignore[assignment]
        return await self._changed(sql, params)

    # helpers, run on the store thread

    def _fetchone(self, sql: str, params: Any) -> Any:
        return self._execute(sql, params).fetchone()

    async def _write_one(self, sql: str, params: Any) -> Any:
        """One atomic statement; its first row (``RETURNING``) or ``None``."""
        try:
            with self._writing:
                return self._eager.execute(sql, params).fetchone()
        except sqlite3.IntegrityError as exc:
            raise StoreConflictError(detail=str(exc)) from exc
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreUnavailableError(detail=f"sqlite: {exc}") from exc
        return await self._run(self._fetchone, sql, params)

    def _read_one(self, sql: str, params: Any) -> Any:
        try:
            with self._reading:
                return self._reader.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(detail=f"sqlite: {exc}") from exc

    def _read_all(self, sql: str, params: Any) -> list[Any]:
        try:
            with self._reading:
                return self._reader.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(detail=f"sqlite: {exc}") from exc

    async def _changed(self, sql: str, params: Any) -> bool:
        return await self._run(lambda: self._execute(sql, params).rowcount > 0)


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring an older (or empty) file to :data:`SCHEMA_VERSION`: the tables
    and indexes that are missing (the schema is all ``IF NOT EXISTS``), then
    the columns that are missing, under the write lock so two processes
    upgrading at once add each column once."""
    schema = resources.files(__package__).joinpath("sqlite_schema.sql").read_text()
    conn.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, column, kind in _ADDED_COLUMNS:
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _guarded(fn: Callable[..., _T], *args: Any) -> _T:
    try:
        return fn(*args)
    except sqlite3.IntegrityError as exc:
        raise StoreConflictError(detail=str(exc)) from exc
    except sqlite3.Error as exc:
        raise StoreUnavailableError(detail=f"sqlite: {exc}") from exc
