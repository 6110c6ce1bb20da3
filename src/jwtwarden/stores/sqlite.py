"""SqliteStore: the embedded default, one file, several processes.

WAL journal so readers never block the writer; every write is one statement
(atomic on its own) and the rotation is ``UPDATE … WHERE sid = ? AND
generation = ? … RETURNING``, so racing processes on one file still get
exactly one rotation. ``synchronous=NORMAL`` in WAL mode survives a process
crash; an OS crash or power loss may lose the last transactions (use the
PostgreSQL store where that matters).

sqlite3 is blocking, so every call runs on one dedicated thread per store,
which owns the connection; the event loop never waits on the file lock.
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
from typing import Any, TypeVar

from ..core.clients import Client
from ..core.policy import Policy
from ..core.revocation import UserRevocation
from ..core.sessions import Session
from ..core.users import User, normalize_username
from ..core.view import RevocationEvent, RevocationSnapshot
from ..errors import ConfigurationError, StoreConflictError, StoreUnavailableError
from ._rows import SESSION_COLUMNS, USER_COLUMNS, session_from, session_row, user_from
from .base import RevocationFacts

__all__ = ["SqliteStore"]

SCHEMA_VERSION = 2
_PURGE_BATCH = 1000
_T = TypeVar("_T")

_SESSION_COLUMNS = SESSION_COLUMNS
_USER_COLUMNS = USER_COLUMNS
# Of two racing cutoffs the later one wins, with its keep_sid.
_LATER_CUTOFF = (
    "cutoff_at = CASE WHEN cutoff_at > :at THEN cutoff_at ELSE :at END, "
    "keep_sid = CASE WHEN cutoff_at > :at THEN keep_sid ELSE :keep END"
)


class SqliteStore:
    """A store in one SQLite file (``sqlite:///path``)."""

    def __init__(self, path: str, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jwtwarden-sqlite")
        if path == ":memory:":
            raise ConfigurationError("use memory:// for an in-memory store")
        self._conn: sqlite3.Connection = self._executor.submit(self._connect, busy_timeout).result()
        # Reads run inline on the caller's thread through a second, read-only
        # connection: in WAL mode a read never waits for a writer, and a
        # 20-50 µs query costs less than a hop to the writer thread and back
        # (which was half the time of a refresh). Writes, which may wait for
        # another process's lock, stay on the writer thread.
        self._reader = sqlite3.connect(
            path, timeout=1.0, isolation_level=None, check_same_thread=False
        )
        self._reader.execute("PRAGMA query_only = 1")
        self._reading = threading.Lock()
        # The hot single-statement writes (a rotation, a new session) first
        # try inline on a connection that never waits (timeout 0); only when
        # another process holds the write lock do they go to the writer
        # thread, which waits for it. The event loop never blocks on a lock.
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
                schema = resources.files(__package__).joinpath("sqlite_schema.sql").read_text()
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{schema}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;"
                )
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
        sql = (
            "INSERT INTO users (sub, username, username_key, password_hash, roles, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        params = (
            user.sub,
            user.username,
            user.username_key,
            user.password_hash,
            json.dumps(list(user.roles)),
            user.created_at,
        )
        await self._run(self._execute, sql, params)

    async def get_user(self, sub: str) -> User | None:
        row = self._read_one(f"SELECT {_USER_COLUMNS} FROM users WHERE sub = ?", (sub,))
        return None if row is None else _user(row)

    async def find_user(self, username: str) -> User | None:
        sql = f"SELECT {_USER_COLUMNS} FROM users WHERE username_key = ?"
        row = self._read_one(sql, (normalize_username(username),))
        return None if row is None else _user(row)

    async def list_users(self) -> list[User]:
        rows = self._read_all(f"SELECT {_USER_COLUMNS} FROM users ORDER BY created_at", ())
        return [_user(row) for row in rows]

    async def set_password(
        self, sub: str, password_hash: str, cutoff_at: float | None, keep_sid: str | None
    ) -> bool:
        if cutoff_at is None:
            sql = "UPDATE users SET password_hash = :hash WHERE sub = :sub"
            return await self._changed(sql, {"hash": password_hash, "sub": sub})
        sql = f"UPDATE users SET password_hash = :hash, {_LATER_CUTOFF} WHERE sub = :sub"
        params = {"hash": password_hash, "sub": sub, "at": cutoff_at, "keep": keep_sid}
        return await self._run(self._user_write, sql, params)

    async def set_roles(self, sub: str, roles: tuple[str, ...], cutoff_at: float) -> bool:
        sql = f"UPDATE users SET roles = :roles, {_LATER_CUTOFF} WHERE sub = :sub"
        params = {"roles": json.dumps(list(roles)), "sub": sub, "at": cutoff_at, "keep": None}
        return await self._run(self._user_write, sql, params)

    async def set_cutoff(self, sub: str, cutoff_at: float, keep_sid: str | None) -> bool:
        sql = f"UPDATE users SET {_LATER_CUTOFF} WHERE sub = :sub"
        params = {"sub": sub, "at": cutoff_at, "keep": keep_sid}
        return await self._run(self._user_write, sql, params)

    async def set_ban(self, sub: str, until: float, cutoff_at: float) -> bool:
        sql = f"UPDATE users SET banned_until = :until, {_LATER_CUTOFF} WHERE sub = :sub"
        params = {"sub": sub, "until": until, "at": cutoff_at, "keep": None}
        return await self._run(self._user_write, sql, params)

    async def lift_ban(self, sub: str) -> bool:
        sql = "UPDATE users SET banned_until = NULL WHERE sub = :sub"
        return await self._run(self._user_write, sql, {"sub": sub})

    def _user_write(self, sql: str, params: dict[str, Any]) -> bool:
        """A change to a user's revocation state and its feed event, in one
        transaction."""
        with self._transaction():
            row = self._execute(
                f"{sql} RETURNING sub, cutoff_at, keep_sid, banned_until", params
            ).fetchone()
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
        sql = f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ({', '.join('?' * 13)})"
        await self._write_one(sql, _session_row(session))

    async def get_session(self, sid: str) -> tuple[Session, User] | None:
        sql = (
            f"SELECT {_prefixed('s', _SESSION_COLUMNS)}, {_prefixed('u', _USER_COLUMNS)} "
            "FROM sessions s JOIN users u ON u.sub = s.sub WHERE s.sid = ?"
        )
        row = self._read_one(sql, (sid,))
        return None if row is None else (_session(row[:13]), _user(row[13:]))

    async def rotate(self, sid: str, expected_generation: int, now: float) -> Session | None:
        sql = (
            "UPDATE sessions SET generation = generation + 1, "
            "rotated_at = :now, last_used_at = :now "
            "WHERE sid = :sid AND generation = :gen AND revoked_at IS NULL "
            f"RETURNING {_SESSION_COLUMNS}"
        )
        params = {"now": now, "sid": sid, "gen": expected_generation}
        row = await self._write_one(sql, params)
        return None if row is None else _session(row)

    async def rotate_if_live(
        self, sid: str, expected_generation: int, now: float, idle_ttl: float
    ) -> tuple[Session, User] | None:
        sql = (
            "UPDATE sessions SET generation = generation + 1, rotated_at = :now, "
            "last_used_at = :now WHERE sid = :sid AND generation = :gen AND revoked_at IS NULL "
            "AND :now < expires_at AND :now - last_used_at < :idle AND EXISTS (SELECT 1 "
            "FROM users u WHERE u.sub = sessions.sub "
            "AND (u.banned_until IS NULL OR :now >= u.banned_until) "
            "AND (u.cutoff_at IS NULL OR auth_time >= u.cutoff_at "
            "OR sessions.sid = u.keep_sid)) "
            f"RETURNING {_SESSION_COLUMNS}"
        )
        params = {"now": now, "sid": sid, "gen": expected_generation, "idle": idle_ttl}
        row = await self._write_one(sql, params)
        if row is None:
            return None
        session = _session(row)
        user_row = self._read_one(
            f"SELECT {_USER_COLUMNS} FROM users WHERE sub = ?", (session.sub,)
        )
        return None if user_row is None else (session, _user(user_row))

    async def revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        return await self._run(self._revoke_session, sid, now, reason)

    def _revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        sql = (
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ? "
            f"WHERE sid = ? AND revoked_at IS NULL RETURNING {_SESSION_COLUMNS}"
        )
        with self._transaction():
            row = self._execute(sql, (now, reason, sid)).fetchone()
            if row is not None:
                self._execute(
                    "INSERT INTO revocation_events (kind, key, at) VALUES ('sid', ?, ?)",
                    (sid, now),
                )
        return None if row is None else _session(row)

    async def list_sessions(self, sub: str) -> list[Session]:
        sql = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE sub = ? ORDER BY auth_time"
        return [_session(row) for row in self._read_all(sql, (sub,))]

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
            rows = self._execute(
                "SELECT sid, revoked_at + :h FROM sessions WHERE revoked_at IS NOT NULL "
                "AND revoked_at > :now - :h",
                {"h": horizon, "now": now},
            )
            snapshot.sessions = dict(rows.fetchall())
            rows = self._execute(
                "SELECT sub, cutoff_at, keep_sid, banned_until FROM users "
                "WHERE cutoff_at IS NOT NULL AND cutoff_at > :now - :h",
                {"h": horizon, "now": now},
            )
            for sub, cutoff_at, keep_sid, banned_until in rows.fetchall():
                snapshot.users[sub] = (
                    UserRevocation(cutoff_at, keep_sid, banned_until),
                    cutoff_at + horizon,
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
            "FROM revocation_events WHERE position > :after AND ("
            "(kind = 'jti' AND forget_at > :now) OR (kind != 'jti' AND at + :h > :now)) "
            "ORDER BY position LIMIT :limit"
        )
        start = int(after) if after and after.isdigit() else 0
        params = {"after": start, "now": now, "h": horizon, "limit": limit}
        rows = self._read_all(sql, params)
        return [_event(row, horizon) for row in rows]

    async def purge_expired(self, now: float, policy: Policy) -> int:
        params = {
            "now": now,
            "idle": policy.idle_ttl,
            "h": policy.revocation_horizon,
            "window": policy.login_window,
            "n": _PURGE_BATCH,
        }
        denied = await self._run(
            self._purge,
            (
                "DELETE FROM denylist WHERE jti IN "
                "(SELECT jti FROM denylist WHERE forget_at <= :now LIMIT :n)"
            ),
            params,
        )
        sessions = await self._run(
            self._purge,
            (
                "DELETE FROM sessions WHERE sid IN (SELECT s.sid FROM sessions s "
                "LEFT JOIN users u ON u.sub = s.sub WHERE "
                "(s.revoked_at IS NOT NULL AND s.revoked_at <= :now - :h) "
                "OR (s.revoked_at IS NULL AND (s.expires_at <= :now "
                "OR s.last_used_at <= :now - :idle "
                "OR u.sub IS NULL OR (s.auth_time < u.cutoff_at AND s.sid IS NOT u.keep_sid))) "
                "LIMIT :n)"
            ),
            params,
        )
        failures = await self._run(
            self._purge,
            (
                "DELETE FROM login_failures WHERE rowid IN "
                "(SELECT rowid FROM login_failures WHERE at <= :now - :window LIMIT :n)"
            ),
            params,
        )
        events = await self._run(
            self._purge,
            (
                "DELETE FROM revocation_events WHERE position IN (SELECT position FROM "
                "revocation_events WHERE (kind = 'jti' AND forget_at <= :now) "
                "OR (kind != 'jti' AND at <= :now - :h) LIMIT :n)"
            ),
            params,
        )
        return denied + sessions + failures + events

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
            self._execute("BEGIN IMMEDIATE")
            try:
                for key in keys:
                    self._execute(
                        "DELETE FROM login_failures WHERE key = ? AND at <= ?", (key, since)
                    )
                    self._execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", (key, now))
            except BaseException:
                self._execute("ROLLBACK")
                raise
            self._execute("COMMIT")

        await self._run(record)

    async def clear_login_failures(self, key: str) -> None:
        await self._run(self._execute, "DELETE FROM login_failures WHERE key = ?", (key,))

    # resource-server clients

    async def create_client(self, client: Client) -> None:
        sql = "INSERT INTO clients (client_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)"
        params = (client.client_id, client.name, client.secret_hash, client.created_at)
        await self._run(self._execute, sql, params)

    async def get_client(self, client_id: str) -> Client | None:
        sql = "SELECT client_id, name, secret_hash, created_at FROM clients WHERE client_id = ?"
        row = self._read_one(sql, (client_id,))
        return None if row is None else Client(*row)

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


def _guarded(fn: Callable[..., _T], *args: Any) -> _T:
    try:
        return fn(*args)
    except sqlite3.IntegrityError as exc:
        raise StoreConflictError(detail=str(exc)) from exc
    except sqlite3.Error as exc:
        raise StoreUnavailableError(detail=f"sqlite: {exc}") from exc


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in columns.split(","))


def _event(row: Any, horizon: float) -> RevocationEvent:
    position, kind, key, at, forget_at, cutoff_at, keep_sid, banned_until = row
    user = UserRevocation(cutoff_at, keep_sid, banned_until) if kind == "user" else None
    forget = forget_at if kind == "jti" else at + horizon
    return RevocationEvent(str(position), kind, key, forget, user, at if kind == "store" else None)


def _session_row(s: Session) -> tuple[Any, ...]:
    return session_row(s)


def _session(row: Any) -> Session:
    return session_from(row)


def _user(row: Any) -> User:
    return user_from(row, tuple(json.loads(row[3])))
