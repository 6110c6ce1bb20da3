"""The Redis store's connections: one redis-py client per event loop, its
Lua scripts, the first-contact checks, and driver errors as ours.

A redis-py connection belongs to the loop that opened it, so each loop gets
its own client (:class:`~jwtwarden.stores._per_loop.PerLoop`). Connecting
and each command are bounded by ``timeout`` seconds; a killed connection is
reopened and the command retried once; every failure raises
:class:`~jwtwarden.errors.StoreUnavailableError`, at once while the server
is known to be down (:mod:`..breaker`; docs/stores.md, "Connections").
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError

from ...errors import ConfigurationError, StoreConflictError, StoreUnavailableError
from .._per_loop import PerLoop
from ..breaker import BreakerPolicy, CircuitBreaker

__all__ = ["Conn", "Connector", "Scripts"]

#: One logger for the whole store, named for the package.
logger = logging.getLogger(__package__)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Scripts:
    """The store's Lua scripts, each ``scripts/<field name>.lua``, run by
    EVALSHA and reloaded on NOSCRIPT (redis-py's ``register_script``)."""

    create: AsyncScript
    rotate: AsyncScript
    rotate_live: AsyncScript
    session: AsyncScript
    revoke: AsyncScript
    user: AsyncScript
    index: AsyncScript
    deny: AsyncScript
    epoch: AsyncScript
    forget: AsyncScript
    release: AsyncScript
    swap: AsyncScript
    trim: AsyncScript


@functools.cache
def _sources() -> dict[str, str]:
    folder = resources.files(__package__).joinpath("scripts")
    return {f.name: folder.joinpath(f"{f.name}.lua").read_text() for f in fields(Scripts)}


@dataclass(frozen=True, slots=True)
class Conn:
    """One event loop's client and its registered scripts."""

    redis: Redis
    scripts: Scripts


class _WaitingPool(ConnectionPool):
    """A connection pool that, when every connection is in use, waits (up to
    the connect timeout) for one to be released instead of failing; only that
    rare case pays for waiting."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        deadline = asyncio.get_running_loop().time() + (
            self.connection_kwargs.get("socket_connect_timeout") or 2.0
        )
        while True:
            try:
                return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
            except MaxConnectionsError:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                await asyncio.sleep(0.001)


class Connector:
    """This store's clients, one per event loop, opened on first use.

    The first client the store opens (in any loop) makes first contact:
    it checks the server's eviction policy (a WARNING, or
    :class:`~jwtwarden.errors.ConfigurationError` when
    ``require_noeviction``).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        timeout: float,
        max_connections: int,
        require_noeviction: bool,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        #: The URL as redis-py reads it; never logged (it may hold a password).
        self._url = url
        self._name = name
        #: Seconds: connecting, and each command (a call at most three times it).
        self.timeout = timeout
        self._max_connections = max_connections
        self._require_noeviction = require_noeviction
        self._contacted = False
        self._clients: PerLoop[Conn] = PerLoop(self._open, _close)
        #: Open while the server is known to be down.
        self.breaker = CircuitBreaker("redis", self._probe, breaker)

    async def _probe(self) -> None:
        async def ping(conn: Conn) -> None:
            await conn.redis.ping()

        await self._run(ping)

    async def run(self, fn: Callable[[Conn], Awaitable[_T]]) -> _T:
        """Run ``fn`` with this loop's client, translating every driver error
        to StoreUnavailableError (conflicts and configuration errors pass);
        at once while the breaker is open."""
        return await self.breaker.call(lambda: self._run(fn))

    async def _run(self, fn: Callable[[Conn], Awaitable[_T]]) -> _T:
        try:
            async with asyncio.timeout(self.timeout * 3):
                return await fn(await self._clients.get())
        except (StoreConflictError, ConfigurationError):
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailableError(detail=f"redis: {_describe(exc)}") from exc

    async def close(self) -> None:
        """Close the running loop's client; those of other (finished) loops
        are dropped."""
        await self.breaker.close()
        await self._clients.close()

    async def _open(self) -> Conn:
        # Taking a free connection is a list pop; redis-py's blocking pool
        # pays a condition variable on every command (~45 us, a third of a
        # refresh). A burst past max_connections waits for one to come back.
        pool = _WaitingPool.from_url(
            self._url,
            max_connections=self._max_connections,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            client_name=self._name,
        )
        client = Redis.from_pool(pool)
        scripts = Scripts(**{n: client.register_script(s) for n, s in _sources().items()})
        conn = Conn(client, scripts)
        if not self._contacted:
            try:
                await self._check_eviction(conn)
            except BaseException:
                await client.aclose()
                raise
            self._contacted = True
        return conn

    async def _check_eviction(self, conn: Conn) -> None:
        try:
            config: dict[Any, Any] = await conn.redis.config_get("maxmemory-policy")
            policy = config.get("maxmemory-policy", config.get(b"maxmemory-policy"))
        except RedisError:  # CONFIG is disabled on some managed services
            policy = None
        name = policy.decode() if isinstance(policy, bytes) else policy
        if name == "noeviction":
            return
        message = (
            f"Redis maxmemory-policy is {name or 'unknown (CONFIG GET refused)'}: keys may be "
            "evicted, and an evicted denylist entry, revoked-session marker or cutoff is an "
            "un-revocation. Set maxmemory-policy noeviction."
        )
        if self._require_noeviction:
            raise ConfigurationError(message + " (refused: require_noeviction=true)")
        logger.warning(message)


async def _close(conn: Conn) -> None:
    await conn.redis.aclose()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else 'timed out'}"
