"""Connections of the PostgreSQL store: a psycopg pool per event loop,
opened on first use (after the schema check), every driver error translated
to a store error, and a read retried once after a broken connection
(docs/stores.md). A circuit breaker (:mod:`..breaker`) answers at once
while the server is known to be down, and replaces the pool, whose
reconnection backs off, when the server is back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...errors import StoreConflictError, StoreUnavailableError
from .._per_loop import PerLoop
from ..breaker import BreakerPolicy, CircuitBreaker

__all__ = ["Connections", "translated"]

_T = TypeVar("_T")
Conn = AsyncConnection[TupleRow]
_Pool = AsyncConnectionPool[Conn]


class Connections:
    """The connections of one store to ``url``.

    ``timeout`` bounds each call (waiting for a pooled connection,
    connecting, the server's ``statement_timeout``); ``max_size`` caps the
    pool of each event loop. ``check`` runs on a connection of the first
    pool opened, until it passes (the schema check). ``breaker`` says when
    the server counts as down.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        max_size: int,
        check: Callable[[Conn], Awaitable[None]],
        breaker: BreakerPolicy | None = None,
    ) -> None:
        params = conninfo_to_dict(url)
        params.setdefault("application_name", "jwtwarden")
        params.setdefault("connect_timeout", max(1, round(timeout)))
        #: libpq connection string; never logged (it may hold a password).
        self._conninfo = make_conninfo("", **params)
        self._timeout = timeout
        self._max_size = max_size
        self._check = check
        #: Whether ``check`` has passed; cleared to check again.
        self.checked = False
        self._pools: PerLoop[_Pool] = PerLoop(self._open_pool, _close_pool)
        #: Open while the server is known to be down.
        self.breaker = CircuitBreaker(
            "postgresql", self._probe, breaker, on_recover=self._pools.close
        )

    async def _probe(self) -> None:
        async def select(conn: Conn) -> None:
            await conn.execute("SELECT 1")

        await self.run_unchecked(select)

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
            if not self.checked:
                async with asyncio.timeout(self._timeout * 2), pool.connection() as conn:
                    await self._check(conn)
                self.checked = True
        except BaseException:
            await pool.close()
            raise
        return pool

    async def _configure(self, conn: Conn) -> None:
        ms = int(self._timeout * 1000)
        await conn.execute(f"SET statement_timeout = {ms}; SET lock_timeout = {ms}")

    async def run(self, fn: Callable[[Conn], Awaitable[_T]], *, read: bool = False) -> _T:
        """Run ``fn`` on a pooled connection, translating every driver error.

        A read that met a broken connection is tried once more, after the
        pool has weeded out its dead idle connections; a write is not (its
        outcome is unknown). While the breaker is open, StoreUnavailableError
        at once."""
        return await self.breaker.call(lambda: self._run(fn, read=read))

    async def _run(self, fn: Callable[[Conn], Awaitable[_T]], *, read: bool) -> _T:
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(self._timeout * 2):
                    pool = await self._pools.get()
                    conn = await self._getconn(pool)
                    try:
                        async with conn:  # as pool.connection() does
                            return await fn(conn)
                    finally:
                        await pool.putconn(conn)
            except psycopg.errors.UniqueViolation as exc:
                raise StoreConflictError(detail=f"postgresql: {exc.diag.constraint_name}") from exc
            except (psycopg.Error, TimeoutError, OSError) as exc:
                if _is_broken_connection(exc):
                    self.breaker.suspect()
                # Dead idle connections go either way; only a read is retried,
                # and not once the server is known to be down.
                weeded = (
                    _is_broken_connection(exc) and not self.breaker.is_open and await self._weed()
                )
                if weeded and read and attempt == 1:
                    continue
                raise _unavailable(exc) from exc
        raise AssertionError("unreachable")

    async def _getconn(self, pool: _Pool) -> Conn:
        """A pooled connection, waited for in slices: a connection this slow
        to come may mean the server is gone, so the breaker probes once (and
        opens) meanwhile, and an open breaker ends the wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while True:
            left = deadline - loop.time()
            try:
                return await pool.getconn(
                    timeout=max(0.001, min(self.breaker.policy.probe_interval, left))
                )
            except PoolTimeout:
                if self.breaker.is_open or loop.time() >= deadline:
                    raise
                self.breaker.suspect()

    async def _weed(self) -> bool:
        """Make the pool drop its dead idle connections; False if it cannot."""
        pool = self._pools.current()
        if pool is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                await pool.check()
        except (psycopg.Error, TimeoutError, OSError):
            return False
        return True

    async def fetchone(self, sql: str, params: Any, *, read: bool = False) -> Any:
        async def fetch(conn: Conn) -> Any:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()

        return await self.run(fetch, read=read)

    async def fetchall(self, sql: str, params: Any) -> list[Any]:
        async def fetch(conn: Conn) -> list[Any]:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

        return await self.run(fetch, read=True)

    async def changed(self, sql: str, params: Any) -> int:
        """Run one write; how many rows it changed."""

        async def change(conn: Conn) -> int:
            cur = await conn.execute(sql, params)
            return cur.rowcount

        return await self.run(change)

    async def connect(self) -> Conn:
        """A connection of its own, outside the pool and the schema check
        (migrations, ``LISTEN``); the caller closes it."""
        with translated():
            async with asyncio.timeout(self._timeout * 2):
                return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)

    async def run_unchecked(self, fn: Callable[[Conn], Awaitable[_T]]) -> _T:
        """Run ``fn`` on a connection of its own, the whole call bounded."""
        with translated():
            async with (
                asyncio.timeout(self._timeout * 2),
                await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn,
            ):
                return await fn(conn)

    async def close(self) -> None:
        """Close the pool of the running loop; pools of other (finished)
        loops are dropped."""
        await self.breaker.close()
        await self._pools.close()


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Driver errors, timeouts and socket errors as StoreUnavailableError."""
    try:
        yield
    except (psycopg.Error, TimeoutError, OSError) as exc:
        raise _unavailable(exc) from exc


async def _close_pool(pool: _Pool) -> None:
    await pool.close()


def _unavailable(exc: BaseException) -> StoreUnavailableError:
    text = str(exc).strip().splitlines()
    reason = text[0][:200] if text else "timed out"
    return StoreUnavailableError(detail=f"postgresql: {type(exc).__name__}: {reason}")


def _is_broken_connection(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, PoolTimeout | psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable
    )
