"""The Redis store's connections: one redis-py client per event loop, its
Lua scripts, the first-contact checks, and driver errors as ours.

The client is a plain ``Redis`` (``redis://``) or a ``RedisCluster``
(``redis+cluster://``, seeded with any of its nodes, the rest discovered):
the store's code is the same on both, since every script declares its keys
and each step stays in one slot (:mod:`.keys`). A write that must reach a
replica before it is acknowledged runs with ``WAIT`` on the same connection
(:meth:`Connector.durably`).

A redis-py connection belongs to the loop that opened it, so each loop gets
its own client (:class:`~jwtwarden.stores._per_loop.PerLoop`). Connecting
and each command are bounded by ``timeout`` seconds; a killed connection is
reopened and the command retried once; every failure raises
:class:`~jwtwarden.errors.StoreUnavailableError`, at once while the server
is known to be down (:mod:`..breaker`; docs/stores.md, "Connections").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode, PipelineCommand
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, NoScriptError, RedisError

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
    revoked: AsyncScript
    user: AsyncScript
    user_feed: AsyncScript
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

    redis: Any  # Redis or RedisCluster: the commands the store uses are common
    scripts: Scripts


_DRIVER_DIR = Path(redis.__file__).resolve().parent
_OUR_DIR = Path(__file__).resolve().parents[2]


def _raised_by_driver(exc: BaseException) -> bool:
    """Whether ``exc`` came out of redis-py: a frame of its traceback is in
    the redis package and none after it is jwtwarden's (what redis-py called,
    uvloop's transport say, may have raised it)."""
    came_from_driver = False
    tb = exc.__traceback__
    while tb is not None:
        where = Path(tb.tb_frame.f_code.co_filename).resolve()
        if where.is_relative_to(_DRIVER_DIR):
            came_from_driver = True
        elif where.is_relative_to(_OUR_DIR):
            came_from_driver = False
        tb = tb.tb_next
    return came_from_driver


async def _drop_connections(client: Redis | RedisCluster) -> None:
    """Close the client's connections after one failed inside the driver:
    one server's idle ones, or every node's on a Cluster (redis-py has no
    idle-only call there; a command in flight on one then fails and is
    answered 503 too). Each reconnects on its next use."""
    with contextlib.suppress(Exception):
        if isinstance(client, RedisCluster):
            for node in client.get_nodes():
                await node.disconnect()
        else:
            await client.connection_pool.disconnect(inuse_connections=False)


class _NotReplicated(Exception):
    """A write the primary made but too few replicas acknowledged in time:
    unavailable to the caller, yet the server is up (the breaker stays
    closed, and a shard that lost its replica still serves reads)."""


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
        cluster: list[tuple[str, int]] | None = None,
        wait_replicas: int = 0,
    ) -> None:
        #: The URL as redis-py reads it; never logged (it may hold a password).
        self._url = url
        self._name = name
        #: Seconds: connecting, and each command (a call at most three times it).
        self.timeout = timeout
        self._max_connections = max_connections
        self._require_noeviction = require_noeviction
        #: Seed nodes of a Redis Cluster (``None``: one server, the URL's).
        self._cluster = cluster
        #: Replicas a revocation must reach before it is acknowledged.
        self.wait_replicas = wait_replicas
        self._rediscovered = float("-inf")
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
        try:
            return await self.breaker.call(lambda: self._run(fn))
        except _NotReplicated as exc:  # the server answered: not a breaker failure
            raise StoreUnavailableError(detail=str(exc)) from None

    async def _run(self, fn: Callable[[Conn], Awaitable[_T]]) -> _T:
        conn: Conn | None = None
        try:
            async with asyncio.timeout(self.timeout * 3):
                conn = await self._clients.get()
                return await fn(conn)
        except (StoreConflictError, ConfigurationError):
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            if conn is not None and isinstance(conn.redis, RedisCluster):
                await self._rediscover(conn.redis)
            raise StoreUnavailableError(detail=f"redis: {_describe(exc)}") from exc
        except (AttributeError, TypeError, RuntimeError) as exc:
            if not _raised_by_driver(exc):
                raise  # our own bug: not to be hidden as an outage
            # redis-py can trip over a connection torn down under it: in a
            # Cluster failover "'NoneType' object has no attribute
            # 'writelines'" (a writer closed by a concurrent disconnect);
            # after a timeout under load uvloop's "unable to perform
            # operation on <TCPTransport closed=True>", a RuntimeError
            # redis-py does not catch, so the dead connection went back to
            # its pool and failed the next calls too. The server is
            # unreachable for this call (503, not a 500), and the client's
            # idle connections are dropped so none of them is reused.
            if conn is not None:
                await _drop_connections(conn.redis)
                if isinstance(conn.redis, RedisCluster):
                    await self._rediscover(conn.redis)
            detail = f"redis: connection lost ({_describe(exc)})"
            raise StoreUnavailableError(detail=detail) from exc

    async def _rediscover(self, client: RedisCluster) -> None:
        """Re-read the slot map after a failure, at most every 100 ms: a
        replica promoted in a failover is then found by the next call,
        whichever path failed (redis-py refreshes its map only on the
        errors its own retries see, not on our WAIT path or a timeout)."""
        now = asyncio.get_running_loop().time()
        if now - self._rediscovered < 0.1:
            return
        self._rediscovered = now
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self.timeout):
                await client.nodes_manager.initialize()

    async def close(self) -> None:
        """Close the running loop's client; those of other (finished) loops
        are dropped."""
        await self.breaker.close()
        await self._clients.close()

    async def durably(
        self, conn: Conn, script: AsyncScript, keys: list[str], args: list[Any]
    ) -> Any:
        """Run a revocation's script, then ``WAIT`` on the same connection
        until ``wait_replicas`` replicas have it (up to ``timeout / 2``): not
        acknowledged before a failover would keep it. Raises
        StoreUnavailableError when too few replicas answered (the write is
        made on the primary; the caller's retry is idempotent)."""
        if self.wait_replicas <= 0:
            return await script(keys=keys, args=args)
        # Half the socket timeout: a WAIT that times out answers in time.
        wait = ("WAIT", self.wait_replicas, int(self.timeout * 500))
        if isinstance(conn.redis, RedisCluster):
            result, acked = await _on_node(conn.redis, script, keys, args, wait)
        else:
            pipe = conn.redis.pipeline(transaction=False)
            await script(keys=keys, args=args, client=pipe)
            pipe.execute_command(*wait)
            result, acked = await pipe.execute()
        if int(acked) < self.wait_replicas:
            wanted = self.wait_replicas
            raise _NotReplicated(f"redis: a revocation reached {acked} of {wanted} replicas")
        return result

    async def _open(self) -> Conn:
        if self._cluster is not None:
            return await self._first_contact(self._open_cluster())
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
        return await self._first_contact(Redis.from_pool(pool))

    def _open_cluster(self) -> RedisCluster:
        # redis-py retries a command on a connection error or a moved slot,
        # refreshing its slot map; a failover (about two node timeouts)
        # outlasts that, and our own bound (3 x timeout) fails the call as
        # unavailable, never "not revoked".
        options = _cluster_options(self._url)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in self._cluster or ()],
            max_connections=self._max_connections,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            client_name=self._name,
            retry=Retry(NoBackoff(), 2),
            **options,
        )

    async def _first_contact(self, client: Any) -> Conn:
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


def _cluster_options(url: str) -> dict[str, Any]:
    """The user name and password of a ``redis+cluster://`` URL."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    options: dict[str, Any] = {}
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    return options


async def _on_node(
    client: RedisCluster,
    script: AsyncScript,
    keys: list[str],
    args: list[Any],
    wait: tuple[str, int, int],
) -> tuple[Any, Any]:
    """EVALSHA then WAIT on one connection to the primary of ``keys``'
    slot (redis-py's cluster pipeline cannot route a keyless WAIT there):
    the primary counts the replicas that acknowledged this connection's
    writes. Loads the script once on NOSCRIPT."""
    for attempt in (1, 2):
        node = client.get_node_from_key(keys[0])
        if node is None:
            raise RedisConnectionError("no primary serves the slot")
        evalsha = PipelineCommand(0, "EVALSHA", script.sha, len(keys), *keys, *args)
        commands = [evalsha, PipelineCommand(1, *wait)]
        await node.execute_pipeline(commands)
        if isinstance(evalsha.result, NoScriptError) and attempt == 1:
            await client.script_load(script.script)
            continue
        for command in commands:
            if isinstance(command.result, Exception):
                raise command.result
        return evalsha.result, commands[1].result
    raise AssertionError("unreachable")


async def _close(conn: Conn) -> None:
    await conn.redis.aclose()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else 'timed out'}"
