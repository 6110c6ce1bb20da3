"""RedisStore: the scale-out in-memory store, on ``redis.asyncio`` (hiredis).

**Atomic steps are Lua scripts.** Every multi-key or read-modify-write step
is one script, kept beside this module (``redis_*.lua``) and run by EVALSHA,
reloaded on NOSCRIPT (``register_script``): the rotation compare-and-swap
(``redis_rotate.lua``), the happy path of a refresh (``redis_rotate_live.lua``:
the same compare-and-swap guarded by the whole liveness rule, returning the
session and its user, so a refresh is one round trip), revocation, user
updates with "the later cutoff wins", the keyring compare-and-swap, purging
one session if it has not changed.

**Key layout** (``P`` is the prefix, ``jw`` unless the URL says
``?prefix=…``). Hash tags keep each atomic step in one slot, so the layout
works on Redis Cluster::

    P:s:{sid}        hash   one session: u sub, g generation, s salt, a auth_time,
                            x expires_at, l last_used_at, t rotated_at, r revoked_at,
                            w revoke reason, i ip, y user agent, c client_id
    P:u:{sub}        hash   one user: n username, h password hash, r roles (JSON),
                            c created_at, o cutoff_at, k keep_sid, b banned_until
    P:u:{sub}:s      zset   the user's sids, scored by expires_at (same slot as the user)
    P:n:{username}   string normalized username -> sub
    P:users          list   every sub, in creation order (list_users)
    P:d              zset   denied jtis, scored by forget_at
    P:rv             zset   revoked sids, scored by revoked_at (the snapshot)
    P:co             zset   subs with a cutoff, scored by cutoff_at (the snapshot)
    P:f:{key}        zset   one throttle key's failed logins, scored by time
    P:c:{client_id}  hash   a resource-server client; P:cn:{name} -> client_id
    P:k              string the sealed keyring blob
    P:e              hash   the store's epoch (data-loss detection, below)
    P:x              stream the revocation feed (below)

Reads that span two slots are two commands: ``find_user`` reads the name,
then the user; ``list_sessions`` and
``list_users`` an index, then the records (pipelined). Writes that span two
slots are ordered so that a crash between them fails closed: a revoked sid
enters ``P:rv`` *before* the session is marked, a username is claimed (with a
short TTL, made permanent once the user exists) before the user is written.
``P:d``, ``P:rv`` and ``P:co`` are single keys (one slot) written only at
revocation rates.

**The revocation feed** is one stream, ``P:x``; a position is a stream ID.
Every revocation write appends its event *inside the Lua script that makes
the write* (``redis_deny.lua``, ``redis_revoke.lua``, ``redis_user.lua``,
and ``redis_epoch.lua`` for the data-loss store cutoff): the event exists
exactly when the write happened, and since scripts run one at a time and
``XADD *`` IDs only increase, events become visible in position order. The
snapshot reads the stream's last ID first, in the same pipeline as the
indexes, so it includes everything up to that position. Sid and user events
store the instant and the reader adds the horizon. :meth:`RedisStore.purge_expired`
deletes (``XDEL``) each event past its own ``forget_at`` (a jti event's is
the token's expiry, not the horizon, and stream IDs are server time while
``now`` is the caller's, so neither ``MINID`` nor ``MAXLEN`` can trim by
age); reads skip them as well. The stream itself expires one horizon (or
the latest denied token's lifetime) after its last event, when all are dead.

*Cluster.* These four scripts are the only atomic steps that span two slots
(their record and ``P:x``): we chose atomicity over Cluster placement,
because a feed written in a second command can lose an event the write
made (a crash in between) or publish two racing user states in the wrong
order (an un-revocation in the view). Two more scripts span two slots, a
session's and its user's, and for the same reason (one round trip, and the
user's cutoff and ban judged in the same atomic step as the rotation):
``redis_rotate_live.lua`` (``rotate_if_live``) and ``redis_session.lua``
(``get_session``). They find the user key in the session hash, so it is not
even among their ``KEYS``, which Cluster refuses outright; a Cluster port
would read ``get_session`` in two commands again and have ``rotate_if_live``
always return ``None`` (the caller then reads and rotates in two steps and
decides the same). The client here is a plain
``redis.asyncio.Redis`` (standalone or Sentinel); running on Cluster would
need the feed's sources moved under one hash tag (``P:{r}:d``, ``:rv``,
``:co``, ``:x``, and a per-user revocation mirror there) so that each
revocation is again one slot.

**Nothing outlives its use.** Sessions expire at their absolute expiry or idle
deadline (the idle TTL is learned from the ``Policy`` given to
:meth:`RedisStore.purge_expired`; until then the absolute expiry), a revoked
one after the revocation horizon; the index sets expire with their last
member, failed logins after the window. TTLs are relative, computed from the
``now`` each call is given (never the server's clock); only ``deny_jti``,
which has no ``now``, compares ``forget_at`` with the wall clock, and a
``forget_at`` already past is not written. Users, clients, the keyring and
the epoch never expire. Purging still deletes what is dead by the given
``now`` (by sweeping keys with SCAN, a bounded batch per call).

**Durability.** Run Redis with AOF, ``appendfsync everysec``: a crash loses
at most about a second of writes. Evictions must be impossible
(``maxmemory-policy noeviction``): an evicted denylist entry, revoked-session
marker or cutoff is an *un-revocation*, and ``volatile-*`` policies evict
exactly the keys that carry TTLs. At start the store logs a WARNING for any
other policy, and refuses to start (ConfigurationError) with
``?require_noeviction=true`` in the URL, or when the policy cannot be read.

**Data loss fails closed.** If Redis loses its data, sessions vanish (users
log in again) and nothing forgotten can re-enable a refresh. The danger is
the denylist: access tokens denied before the loss would verify again. The
store therefore keeps an epoch (``P:e``: an id, created on first contact).
Every :meth:`revocation_facts` and :meth:`revocation_snapshot` reads it in the
same round trip; a process that saw the epoch before and finds it gone knows
the store lost data, writes a new epoch carrying a *store cutoff* at the
``now`` it was given, and from then on every process reports that cutoff
(``RevocationFacts.store_cutoff``, ``RevocationSnapshot.store_cutoff``) for one
access-token lifetime: every token from before the loss is revoked.

A *fresh* deployment and a store *wiped while every jwtwarden process was
down* look the same: no epoch and no data. The first process treats both as
fresh (no cutoff), because refusing every earlier token on each first start
would be wrong for a new store. Loss is detected when a process that was
using the store survives it; after restarting Redis *and* every process
together with no data, rotate the signing keys (``jwtwarden keys rotate``) or
keep them in the store (``JWTWARDEN_MASTER_KEY``), which then lost them too.

**Connections.** One client per event loop (a redis-py connection belongs to
the loop that opened it); connect and command timeouts of ``timeout``
seconds; a killed connection is reopened and the command retried once; every
failure raises :class:`~jwtwarden.errors.StoreUnavailableError`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError

from ..core.clients import Client
from ..core.policy import Policy
from ..core.revocation import NO_REVOCATION, UserRevocation
from ..core.sessions import Session
from ..core.users import User, normalize_username
from ..core.view import RevocationEvent, RevocationSnapshot
from ..errors import ConfigurationError, StoreConflictError, StoreUnavailableError
from .base import RevocationFacts

__all__ = ["RedisStore"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SCRIPTS = (
    "create", "rotate", "revoke", "user", "index", "swap", "epoch", "forget", "release", "deny",
    "rotate_live", "session",
)  # fmt: skip
#: Feed entries read (or purged) per XRANGE page.
_FEED_PAGE = 1000
_STREAM_ID = re.compile(r"\d+(-\d+)?")
#: Keys a purge sweeps per kind and call (SCAN pages of about 500).
_SWEEP_BUDGET = 20_000
_SCAN_COUNT = 500
#: How long a name claim waits for its record before it frees itself.
_CLAIM_TTL = 60
#: Revocation markers are kept this long until a purge or snapshot has told
#: the store the real horizon (the access-token lifetime).
_UNKNOWN_HORIZON = 86_400.0
_TRUE = {"1", "true", "yes", "on"}
_DEFAULT_CLIENT = "jwtwarden"


@dataclass(slots=True)
class _Conn:
    """One event loop's client and its registered scripts."""

    redis: Redis
    scripts: dict[str, AsyncScript]


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


class RedisStore:
    """A store in Redis (``redis://host:port/db``).

    URL options besides redis-py's own: ``prefix`` (default ``jw``; letters,
    digits and ``_.-``) so that several stores share one database, and
    ``require_noeviction=true`` to refuse a server whose
    ``maxmemory-policy`` could evict keys. ``timeout`` bounds connecting and
    each command, in seconds; ``max_connections`` caps the pool of each
    event loop (a burst beyond it waits for a connection).
    """

    def __init__(self, url: str, *, timeout: float = 2.0, max_connections: int = 256) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        prefix = query.pop("prefix", "jw")
        if not _PREFIX.fullmatch(prefix):
            raise ConfigurationError("a Redis store prefix is 1-64 letters, digits and _.-")
        #: Every key starts with this and a colon.
        self.prefix = prefix
        self._require_noeviction = query.pop("require_noeviction", "").lower() in _TRUE
        #: The URL as redis-py reads it; never logged (it may hold a password).
        self._url = urlunsplit(parts._replace(query=urlencode(query)))
        self._timeout = timeout
        self._max_connections = max_connections
        self._conns: dict[asyncio.AbstractEventLoop, _Conn] = {}
        self._starting: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._started = False
        self._epoch: str | None = None
        self._horizon: float | None = None
        self._idle: float | None = None
        self._cursors: dict[str, int] = {}
        self._sources = {
            name: resources.files(__package__).joinpath(f"redis_{name}.lua").read_text()
            for name in _SCRIPTS
        }

    # keys

    def _session_key(self, sid: str) -> str:
        return f"{self.prefix}:s:{{{sid}}}"

    def _user_key(self, sub: str) -> str:
        return f"{self.prefix}:u:{{{sub}}}"

    def _user_sessions_key(self, sub: str) -> str:
        return f"{self.prefix}:u:{{{sub}}}:s"

    def _name_key(self, username_key: str) -> str:
        return f"{self.prefix}:n:{{{username_key}}}"

    def _failures_key(self, key: str) -> str:
        return f"{self.prefix}:f:{{{key}}}"

    def _client_key(self, client_id: str) -> str:
        return f"{self.prefix}:c:{{{client_id}}}"

    def _client_name_key(self, name: str) -> str:
        return f"{self.prefix}:cn:{{{name}}}"

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    # connections

    def _new_conn(self) -> _Conn:
        # Taking a free connection is a list pop; redis-py's blocking pool
        # pays a condition variable on every command (~45 us, a third of a
        # refresh). A burst past max_connections waits for one to come back.
        pool = _WaitingPool.from_url(
            self._url,
            max_connections=self._max_connections,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            client_name=f"jwtwarden:{self.prefix}",
        )
        client = Redis.from_pool(pool)
        scripts = {name: client.register_script(src) for name, src in self._sources.items()}
        return _Conn(client, scripts)

    async def _conn(self) -> _Conn:
        loop = asyncio.get_running_loop()
        conn = self._conns.get(loop)
        if conn is None:
            conn = self._conns[loop] = self._new_conn()
        if self._started:
            return conn
        task = self._starting.get(loop)
        if task is None:
            task = self._starting[loop] = loop.create_task(self._start(conn))
        try:
            await asyncio.shield(task)
        finally:
            if task.done():
                self._starting.pop(loop, None)
        return conn

    async def _start(self, conn: _Conn) -> None:
        """First contact: check the eviction policy, read or create the epoch."""
        await self._check_eviction(conn)
        run_id = (await conn.redis.info("server")).get("run_id", "")
        fields = await conn.scripts["epoch"](
            keys=[self._key("e"), self._key("x")],
            args=[secrets.token_hex(8), "", repr(time.time()), run_id, "0"],
        )
        self._epoch = fields[0].decode()
        self._started = True

    async def _check_eviction(self, conn: _Conn) -> None:
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

    async def _run(self, fn: Callable[[_Conn], Awaitable[_T]]) -> _T:
        """Run ``fn`` with this loop's client, translating every driver error."""
        try:
            async with asyncio.timeout(self._timeout * 3):
                return await fn(await self._conn())
        except (StoreConflictError, ConfigurationError):
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailableError(detail=f"redis: {_describe(exc)}") from exc

    async def ping(self) -> None:
        async def ping(conn: _Conn) -> None:
            await conn.redis.ping()

        await self._run(ping)

    async def close(self) -> None:
        """Close the client of the running loop; those of other (finished)
        loops are dropped."""
        conn = self._conns.pop(asyncio.get_running_loop(), None)
        self._conns.clear()
        for task in self._starting.values():
            task.cancel()
        self._starting.clear()
        if conn is not None:
            await conn.redis.aclose()

    # users

    async def create_user(self, user: User) -> None:
        name = self._name_key(user.username_key)

        async def create(conn: _Conn) -> None:
            # Claim the name first (freeing itself if we die), then the record.
            if not await conn.redis.set(name, user.sub, nx=True, ex=_CLAIM_TTL):
                raise StoreConflictError("That username is taken.")
            created = await conn.scripts["create"](
                keys=[self._user_key(user.sub)], args=["0", *_user_fields(user)]
            )
            if not created:
                await conn.scripts["release"](keys=[name], args=[user.sub])
                raise StoreConflictError("That user id is taken.")
            pipe = conn.redis.pipeline(transaction=False)
            pipe.persist(name)
            pipe.rpush(self._key("users"), user.sub)
            await pipe.execute()

        await self._run(create)

    async def get_user(self, sub: str) -> User | None:
        async def get(conn: _Conn) -> User | None:
            return _user(sub, await _hgetall(conn, self._user_key(sub)))

        return await self._run(get)

    async def find_user(self, username: str) -> User | None:
        async def find(conn: _Conn) -> User | None:
            sub = await _get(conn, self._name_key(normalize_username(username)))
            if sub is None:
                return None
            return _user(sub.decode(), await _hgetall(conn, self._user_key(sub.decode())))

        return await self._run(find)

    async def list_users(self) -> list[User]:
        async def list_all(conn: _Conn) -> list[User]:
            subs = list(
                dict.fromkeys(
                    s.decode()
                    for s in cast("list[bytes]", await conn.redis.lrange(self._key("users"), 0, -1))
                )
            )
            pipe = conn.redis.pipeline(transaction=False)
            for sub in subs:
                pipe.hgetall(self._user_key(sub))
            found = [_user(sub, h) for sub, h in zip(subs, await pipe.execute(), strict=True)]
            return sorted((u for u in found if u is not None), key=lambda u: u.created_at)

        return await self._run(list_all)

    async def set_password(
        self, sub: str, password_hash: str, cutoff_at: float | None, keep_sid: str | None
    ) -> bool:
        return await self._update_user(sub, cutoff_at, keep_sid, h=password_hash)

    async def set_roles(self, sub: str, roles: tuple[str, ...], cutoff_at: float) -> bool:
        return await self._update_user(sub, cutoff_at, None, r=json.dumps(list(roles)))

    async def set_cutoff(self, sub: str, cutoff_at: float, keep_sid: str | None) -> bool:
        return await self._update_user(sub, cutoff_at, keep_sid)

    async def set_ban(self, sub: str, until: float, cutoff_at: float) -> bool:
        return await self._update_user(sub, cutoff_at, None, b=_f(until))

    async def lift_ban(self, sub: str) -> bool:
        return await self._update_user(sub, None, None, b="")

    async def _update_user(
        self, sub: str, cutoff_at: float | None, keep_sid: str | None, **fields: str
    ) -> bool:
        async def update(conn: _Conn) -> bool:
            if cutoff_at is not None:
                # Into the snapshot's index first: a crash in between fails closed.
                await self._index(conn, "co", sub, cutoff_at, mode="GT")
            # Only a cutoff or a ban changes what a verifier refuses.
            on_feed = cutoff_at is not None or "b" in fields
            args = [sub if on_feed else "", self._feed_ttl()]
            args += [_f(cutoff_at) if cutoff_at is not None else "", keep_sid or ""]
            for name, value in fields.items():
                args += [name, value]
            keys = [self._user_key(sub), self._key("x")]
            return bool(await conn.scripts["user"](keys=keys, args=args))

        return await self._run(update)

    def _feed_ttl(self) -> str:
        """How long a sid, user or store event keeps the feed alive."""
        return _ms(self._horizon or _UNKNOWN_HORIZON)

    async def _index(self, conn: _Conn, name: str, member: str, score: float, mode: str) -> None:
        """Add to one of the revocation indexes, which live for one horizon."""
        ttl = _ms(self._horizon or _UNKNOWN_HORIZON)
        await conn.scripts["index"](keys=[self._key(name)], args=[member, _f(score), "", ttl, mode])

    # sessions

    async def create_session(self, session: Session) -> None:
        now = session.last_used_at
        deadline = session.expires_at
        if self._idle is not None:
            deadline = min(deadline, now + self._idle)

        async def create(conn: _Conn) -> None:
            created = await conn.scripts["create"](
                keys=[self._session_key(session.sid)],
                args=[_ms(deadline - now), *_session_fields(session)],
            )
            if not created:
                raise StoreConflictError("session id collision")
            # The user's index drops members whose sessions have expired.
            await conn.scripts["index"](
                keys=[self._user_sessions_key(session.sub)],
                args=[
                    session.sid,
                    _f(session.expires_at),
                    _f(now),
                    _ms(session.expires_at - now),
                    "GT",
                ],
            )

        await self._run(create)

    async def get_session(self, sid: str) -> tuple[Session, User] | None:
        async def get(conn: _Conn) -> tuple[Session, User] | None:
            found = await conn.scripts["session"](keys=[self._session_key(sid)], args=[self.prefix])
            return _session_and_user(sid, found)

        return await self._run(get)

    async def rotate(self, sid: str, expected_generation: int, now: float) -> Session | None:
        async def rotate(conn: _Conn) -> Session | None:
            fields = await conn.scripts["rotate"](
                keys=[self._session_key(sid)],
                args=[str(expected_generation), _t(now), _f(self._idle or 0)],
            )
            return None if not fields else _session(sid, _pairs(fields))

        return await self._run(rotate)

    async def rotate_if_live(
        self, sid: str, expected_generation: int, now: float, idle_ttl: float
    ) -> tuple[Session, User] | None:
        async def rotate(conn: _Conn) -> tuple[Session, User] | None:
            found = await conn.scripts["rotate_live"](
                keys=[self._session_key(sid)],
                args=[str(expected_generation), _t(now), _f(idle_ttl), sid, self.prefix],
            )
            return _session_and_user(sid, found)

        return await self._run(rotate)

    async def revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        async def revoke(conn: _Conn) -> Session | None:
            # Into the snapshot's index first (keeping an earlier revocation's
            # time): a crash in between fails closed.
            await self._index(conn, "rv", sid, now, mode="NX")
            keep = _ms(self._horizon) if self._horizon is not None else "0"
            fields = await conn.scripts["revoke"](
                keys=[self._session_key(sid), self._key("x")],
                args=[_t(now), reason, keep, sid, self._feed_ttl()],
            )
            return None if not fields else _session(sid, _pairs(fields))

        return await self._run(revoke)

    async def list_sessions(self, sub: str) -> list[Session]:
        async def list_all(conn: _Conn) -> list[Session]:
            index = self._user_sessions_key(sub)
            sids = [s.decode() for s in cast("list[bytes]", await conn.redis.zrange(index, 0, -1))]
            pipe = conn.redis.pipeline(transaction=False)
            for sid in sids:
                pipe.hgetall(self._session_key(sid))
            found = [_session(sid, h) for sid, h in zip(sids, await pipe.execute(), strict=True)]
            gone = [sid for sid, s in zip(sids, found, strict=True) if s is None]
            if gone:
                await conn.redis.zrem(index, *gone)
            return sorted((s for s in found if s is not None), key=lambda s: s.auth_time)

        return await self._run(list_all)

    # access-token revocations

    async def deny_jti(self, jti: str, forget_at: float) -> None:
        # The protocol gives no "now" here: the wall clock decides the TTL.
        ttl = forget_at - time.time()
        if ttl <= 0:
            return  # the token has expired already; nothing to deny

        async def deny(conn: _Conn) -> None:
            await conn.scripts["deny"](
                keys=[self._key("d"), self._key("x")], args=[jti, _f(forget_at), _ms(ttl)]
            )

        await self._run(deny)

    async def revocation_facts(self, sub: str, sid: str, jti: str, now: float) -> RevocationFacts:
        async def facts(conn: _Conn) -> RevocationFacts:
            pipe = conn.redis.pipeline(transaction=False)
            pipe.zscore(self._key("d"), jti)
            pipe.hexists(self._session_key(sid), "r")
            pipe.hmget(self._user_key(sub), ["o", "k", "b"])
            pipe.hmget(self._key("e"), ["id", "c"])
            denied_until, revoked, user, epoch = await pipe.execute()
            cutoff = await self._store_cutoff(conn, epoch, now, None)
            return RevocationFacts(
                jti_denied=denied_until is not None and denied_until > now,
                session_revoked=bool(revoked),
                user=_revocation(*user),
                store_cutoff=cutoff,
            )

        return await self._run(facts)

    async def revocation_snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        self._horizon = max(self._horizon or 0.0, horizon)

        async def snapshot(conn: _Conn) -> RevocationSnapshot:
            since = f"({_f(now - horizon)}"
            pipe = conn.redis.pipeline(transaction=False)
            # The position first: every event up to it is in what follows.
            pipe.xrevrange(self._key("x"), "+", "-", count=1)
            pipe.zrangebyscore(self._key("d"), f"({_f(now)}", "+inf", withscores=True)
            pipe.zrangebyscore(self._key("rv"), since, "+inf", withscores=True)
            pipe.zrangebyscore(self._key("co"), since, "+inf")
            pipe.hmget(self._key("e"), ["id", "c"])
            last, denied, revoked, subs, epoch = await pipe.execute()
            snap = RevocationSnapshot(position=last[0][0].decode() if last else "0-0")
            snap.denied = {jti.decode(): at for jti, at in denied}
            snap.sessions = {sid.decode(): at + horizon for sid, at in revoked}
            await self._snapshot_users(
                conn, snap, [s.decode() for s in subs], now - horizon, horizon
            )
            cutoff = await self._store_cutoff(conn, epoch, now, horizon)
            if cutoff is not None:
                snap.store_cutoff = (cutoff, cutoff + horizon)
            return snap

        return await self._run(snapshot)

    async def _snapshot_users(
        self, conn: _Conn, snap: RevocationSnapshot, subs: list[str], since: float, horizon: float
    ) -> None:
        pipe = conn.redis.pipeline(transaction=False)
        for sub in subs:
            pipe.hmget(self._user_key(sub), ["o", "k", "b"])
        for sub, fields in zip(subs, await pipe.execute(), strict=True):
            revocation = _revocation(*fields)
            if revocation.cutoff_at is not None and revocation.cutoff_at > since:
                snap.users[sub] = (revocation, revocation.cutoff_at + horizon)

    async def _store_cutoff(
        self, conn: _Conn, epoch: list[bytes | None], now: float, horizon: float | None
    ) -> float | None:
        """The store cutoff to report, after checking the epoch read with the
        facts: a missing epoch that this process saw before means data loss."""
        epoch_id, cutoff = epoch
        if epoch_id is None:
            epoch_id, cutoff = await conn.scripts["epoch"](
                keys=[self._key("e"), self._key("x")],
                args=[secrets.token_hex(8), _f(now), repr(time.time()), "", self._feed_ttl()],
            )
        assert epoch_id is not None
        if epoch_id.decode() != self._epoch:
            logger.warning(
                "Redis store %s lost its data (its epoch changed): every token issued before "
                "the loss is treated as revoked for one access-token lifetime",
                self.prefix,
            )
            self._epoch = epoch_id.decode()
        if not cutoff:
            return None
        at = float(cutoff)
        horizon = horizon if horizon is not None else self._horizon
        return None if horizon is not None and now >= at + horizon else at

    async def revocation_changes(
        self, after: str | None, now: float, horizon: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        async def changes(conn: _Conn) -> list[RevocationEvent]:
            events: list[RevocationEvent] = []
            start = _after(after)
            while len(events) < limit:
                page = await _xrange(conn, self._key("x"), start, _FEED_PAGE)
                live = (_event(i, f, horizon) for i, f in page)
                events += [e for e in live if e.forget_at > now]
                if len(page) < _FEED_PAGE:
                    break
                start = f"({page[-1][0].decode()}"
            return events[:limit]

        return await self._run(changes)

    async def wait_for_revocations(self, after: str | None, timeout: float) -> None:
        """Return once the feed may hold an event after ``after``, or after
        ``timeout`` seconds: a follower's wait between
        :meth:`revocation_changes` calls instead of polling (``XREAD
        BLOCK``, in slices shorter than the socket timeout). Raises
        StoreUnavailableError."""
        position = after if after is not None and _STREAM_ID.fullmatch(after) else "0-0"
        deadline = time.monotonic() + timeout

        async def wait(conn: _Conn, block: float) -> bool:
            found = await conn.redis.xread(
                {self._key("x"): position}, count=1, block=max(1, int(block * 1000))
            )
            return bool(found)

        while (left := deadline - time.monotonic()) > 0:
            if await self._run(functools.partial(wait, block=min(left, self._timeout / 2))):
                return

    async def purge_expired(self, now: float, policy: Policy) -> int:
        horizon = policy.revocation_horizon
        self._horizon = max(self._horizon or 0.0, horizon)
        self._idle = policy.idle_ttl

        async def purge(conn: _Conn) -> int:
            pipe = conn.redis.pipeline(transaction=False)
            pipe.zremrangebyscore(self._key("d"), "-inf", _f(now))
            pipe.zremrangebyscore(self._key("rv"), "-inf", _f(now - horizon))
            pipe.zremrangebyscore(self._key("co"), "-inf", _f(now - horizon))
            denied = (await pipe.execute())[0]
            sessions = await self._sweep(
                conn, "s", lambda keys: self._purge_sessions(conn, keys, now, policy)
            )
            failures = await self._sweep(
                conn, "f", lambda keys: self._purge_failures(conn, keys, now - policy.login_window)
            )
            events = await self._purge_feed(conn, now, horizon)
            return int(denied) + sessions + failures + events

        return await self._run(purge)

    async def _sweep(
        self, conn: _Conn, kind: str, batch: Callable[[list[bytes]], Awaitable[int]]
    ) -> int:
        """SCAN the keys of one kind, a page at a time, resuming where the last
        purge stopped, up to the budget: the work per call stays bounded."""
        cursor, seen, total = self._cursors.get(kind, 0), 0, 0
        while seen < _SWEEP_BUDGET:
            cursor, keys = await _scan(conn, cursor, f"{self.prefix}:{kind}:*")
            seen += len(keys) or 1
            if keys:
                total += await batch(keys)
            if cursor == 0:
                break
        self._cursors[kind] = cursor
        return total

    async def _purge_sessions(
        self, conn: _Conn, keys: list[bytes], now: float, policy: Policy
    ) -> int:
        keys = [k for k in keys if k.endswith(b"}")]  # sessions, not their indexes
        pipe = conn.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, ["u", "U", "g", "a", "x", "l", "r"])
        rows = [
            (k, (_sub_of(f[0], f[1]), *f[2:]))
            for k, f in zip(keys, await pipe.execute(), strict=True)
            if f[2] is not None
        ]
        subs = list({f[0] for _, f in rows})
        pipe = conn.redis.pipeline(transaction=False)
        for sub in subs:
            pipe.hmget(self._user_key(sub), ["n", "o", "k", "b"])
        users = dict(zip(subs, await pipe.execute(), strict=True))
        deleted = 0
        for key, (sub, g, auth_time, expires_at, last_used, revoked_at) in rows:
            sid = key.decode().split("{", 1)[1][:-1]
            user = users[sub]
            revocation = None if user[0] is None else _revocation(*user[1:])
            if not _is_dead(
                sid, auth_time, expires_at, last_used, revoked_at, revocation, now, policy
            ):
                continue
            args = [g, last_used, revoked_at or b""]
            if await conn.scripts["forget"](keys=[key], args=args):
                deleted += 1
                await conn.redis.zrem(self._user_sessions_key(sub), sid)
        return deleted

    async def _purge_feed(self, conn: _Conn, now: float, horizon: float) -> int:
        """XDEL every feed event past its own forget_at, a page at a time.
        The feed holds only what a verifier's view holds (and what died
        since the last purge), so the walk is as bounded as the view."""
        start, deleted = "-", 0
        while True:
            page = await _xrange(conn, self._key("x"), start, _FEED_PAGE)
            dead = [i for i, f in page if _event(i, f, horizon).forget_at <= now]
            if dead:
                deleted += int(await conn.redis.xdel(self._key("x"), *dead))
            if len(page) < _FEED_PAGE:
                return deleted
            start = f"({page[-1][0].decode()}"

    async def _purge_failures(self, conn: _Conn, keys: list[bytes], before: float) -> int:
        pipe = conn.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zremrangebyscore(key, "-inf", _f(before))
        return sum(int(n) for n in await pipe.execute())

    # login throttling

    async def login_failures(
        self, keys: Sequence[str], since: float
    ) -> list[tuple[int, float | None]]:
        async def count(conn: _Conn) -> list[tuple[int, float | None]]:
            pipe = conn.redis.pipeline(transaction=False)
            for key in keys:
                pipe.zcount(self._failures_key(key), f"({_f(since)}", "+inf")
                pipe.zrangebyscore(
                    self._failures_key(key),
                    f"({_f(since)}",
                    "+inf",
                    start=0,
                    num=1,
                    withscores=True,
                )
            replies = await pipe.execute()
            return [
                (int(n), oldest[0][1] if oldest else None)
                for n, oldest in zip(replies[::2], replies[1::2], strict=True)
            ]

        return await self._run(count)

    async def record_login_failure(self, keys: Sequence[str], now: float, since: float) -> None:
        async def record(conn: _Conn) -> None:
            member = f"{_f(now)}:{secrets.token_hex(4)}"
            ttl = _ms(now - since)
            await asyncio.gather(
                *(
                    conn.scripts["index"](
                        keys=[self._failures_key(key)], args=[member, _f(now), _f(since), ttl, ""]
                    )
                    for key in keys
                )
            )

        await self._run(record)

    async def clear_login_failures(self, key: str) -> None:
        async def clear(conn: _Conn) -> None:
            await conn.redis.delete(self._failures_key(key))

        await self._run(clear)

    # resource-server clients

    async def create_client(self, client: Client) -> None:
        name = self._client_name_key(client.name)

        async def create(conn: _Conn) -> None:
            if not await conn.redis.set(name, client.client_id, nx=True, ex=_CLAIM_TTL):
                raise StoreConflictError("That client name is taken.")
            fields = ["n", client.name, "h", client.secret_hash, "c", _f(client.created_at)]
            created = await conn.scripts["create"](
                keys=[self._client_key(client.client_id)], args=["0", *fields]
            )
            if not created:
                await conn.scripts["release"](keys=[name], args=[client.client_id])
                raise StoreConflictError("That client id is taken.")
            await conn.redis.persist(name)

        await self._run(create)

    async def get_client(self, client_id: str) -> Client | None:
        async def get(conn: _Conn) -> Client | None:
            h = await _hgetall(conn, self._client_key(client_id))
            if not h:
                return None
            return Client(client_id, h[b"n"].decode(), h[b"h"].decode(), float(h[b"c"]))

        return await self._run(get)

    # secret material

    async def load_keyring(self) -> bytes | None:
        async def load(conn: _Conn) -> bytes | None:
            value = await _get(conn, self._key("k"))
            return None if value is None else bytes(value)

        return await self._run(load)

    async def save_keyring(self, blob: bytes, expected: bytes | None) -> bool:
        async def save(conn: _Conn) -> bool:
            args: list[str | bytes] = (
                ["0", b"", blob] if expected is None else ["1", expected, blob]
            )
            return bool(await conn.scripts["swap"](keys=[self._key("k")], args=args))

        return await self._run(save)


async def _hgetall(conn: _Conn, key: str) -> dict[bytes, bytes]:
    return cast("dict[bytes, bytes]", await conn.redis.hgetall(key))


async def _get(conn: _Conn, key: str) -> bytes | None:
    return cast("bytes | None", await conn.redis.get(key))


async def _scan(conn: _Conn, cursor: int, match: str) -> tuple[int, list[bytes]]:
    found = await conn.redis.scan(cursor, match=match, count=_SCAN_COUNT)
    return cast("tuple[int, list[bytes]]", found)


async def _xrange(
    conn: _Conn, key: str, start: str, count: int
) -> list[tuple[bytes, dict[bytes, bytes]]]:
    found = await conn.redis.xrange(key, start, "+", count=count)
    return cast("list[tuple[bytes, dict[bytes, bytes]]]", found)


def _after(position: str | None) -> str:
    """The XRANGE start after a feed position; from the oldest if there is
    none (or it is not a stream ID: a follower switched stores)."""
    if position is None or not _STREAM_ID.fullmatch(position):
        return "-"
    return f"({position}"


def _event(entry_id: bytes, f: dict[bytes, bytes], horizon: float) -> RevocationEvent:
    kind, key = f[b"k"].decode(), f[b"i"].decode()
    if kind == "jti":
        return RevocationEvent(entry_id.decode(), kind, key, float(f[b"f"]))
    at = _tf(f[b"a"])
    user = None
    if kind == "user":
        user = UserRevocation(at, _opt_s(f.get(b"s")), _opt_f(f.get(b"b")))
    cutoff = at if kind == "store" else None
    return RevocationEvent(entry_id.decode(), kind, key, at + horizon, user, cutoff)


def _sub_of(text: bytes | None, packed: bytes | None) -> str:
    return str(uuid.UUID(bytes=packed)) if packed is not None else (text or b"").decode()


def _is_dead(
    sid: str,
    auth_time: bytes,
    expires_at: bytes,
    last_used: bytes,
    revoked_at: bytes | None,
    user: UserRevocation | None,
    now: float,
    policy: Policy,
) -> bool:
    """The purge rule the other stores apply, on the raw fields."""
    if revoked_at is not None:
        return _tf(revoked_at) + policy.revocation_horizon <= now
    if _tf(expires_at) <= now or _tf(last_used) + policy.idle_ttl <= now:
        return True
    return user is None or user.covers(_tf(auth_time), sid)


def _f(value: float) -> str:
    """A float as the shortest string that reads back as the same double."""
    return repr(float(value))


def _t(value: float) -> str:
    """A session time: integer microseconds when that reads back as the very
    same double (every time a Clock makes), else the float's repr. Fewer
    bytes in the hash; ``redis_*.lua`` decode it with ``sec()``."""
    micros = round(value * 1_000_000)
    return str(micros) if micros / 1_000_000 == value else repr(float(value))


def _tf(value: bytes) -> float:
    return float(value) if any(c in value for c in b".eEn") else int(value) / 1_000_000


def _opt_t(value: bytes | None) -> float | None:
    return None if value is None else _tf(value)


def _ms(seconds: float) -> str:
    """A relative TTL in milliseconds, at least one second."""
    return str(max(1000, int(seconds * 1000)))


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _opt_f(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def _opt_s(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _session_fields(s: Session) -> list[str | bytes]:
    """Compact hash fields: one-letter names, times as integer microseconds
    where exact, a UUID ``sub`` as its 16 bytes, the default client omitted
    (about 250 bytes a session by ``MEMORY USAGE``)."""
    fields: list[str | bytes] = [
        *_sub_field(s.sub), "g", str(s.generation), "s", s.salt, "a", _t(s.auth_time),
        "x", _t(s.expires_at), "l", _t(s.last_used_at),
    ]  # fmt: skip
    optional = {"t": s.rotated_at, "r": s.revoked_at}
    fields += [item for k, v in optional.items() if v is not None for item in (k, _t(v))]
    texts = {"w": s.revoke_reason, "i": s.ip, "y": s.user_agent}
    if s.client_id != _DEFAULT_CLIENT:
        texts["c"] = s.client_id
    fields += [item for k, v in texts.items() if v is not None for item in (k, v)]
    return fields


def _sub_field(sub: str) -> tuple[str, str | bytes]:
    try:
        packed = uuid.UUID(sub)
    except ValueError:
        return "u", sub
    return ("U", packed.bytes) if str(packed) == sub else ("u", sub)


def _session(sid: str, h: dict[bytes, bytes]) -> Session | None:
    if not h:
        return None
    packed = h.get(b"U")
    return Session(
        sid=sid,
        sub=str(uuid.UUID(bytes=packed)) if packed is not None else h[b"u"].decode(),
        generation=int(h[b"g"]),
        salt=bytes(h[b"s"]),
        auth_time=_tf(h[b"a"]),
        expires_at=_tf(h[b"x"]),
        last_used_at=_tf(h[b"l"]),
        rotated_at=_opt_t(h.get(b"t")),
        revoked_at=_opt_t(h.get(b"r")),
        revoke_reason=_opt_s(h.get(b"w")),
        ip=_opt_s(h.get(b"i")),
        user_agent=_opt_s(h.get(b"y")),
        client_id=h[b"c"].decode() if b"c" in h else _DEFAULT_CLIENT,
    )


def _session_and_user(sid: str, found: Any) -> tuple[Session, User] | None:
    """Decode a script's ``{session fields, user fields}`` (nil: ``None``)."""
    if not found:
        return None
    session_fields, user_fields = found
    session = _session(sid, _pairs(session_fields))
    if session is None:
        return None
    user = _user(session.sub, _pairs(user_fields))
    return None if user is None else (session, user)


def _user_fields(u: User) -> list[str]:
    fields = ["n", u.username, "h", u.password_hash, "r", json.dumps(list(u.roles))]
    fields += ["c", _f(u.created_at)]
    r = u.revocation
    optional = {"o": r.cutoff_at, "b": r.banned_until}
    fields += [item for k, v in optional.items() if v is not None for item in (k, _f(v))]
    if r.keep_sid is not None:
        fields += ["k", r.keep_sid]
    return fields


def _user(sub: str, h: dict[bytes, bytes]) -> User | None:
    if not h:
        return None
    return User(
        sub=sub,
        username=h[b"n"].decode(),
        password_hash=h[b"h"].decode(),
        roles=tuple(json.loads(h[b"r"])),
        created_at=float(h[b"c"]),
        revocation=_revocation(h.get(b"o"), h.get(b"k"), h.get(b"b")),
    )


def _revocation(
    cutoff_at: bytes | None, keep_sid: bytes | None, banned_until: bytes | None
) -> UserRevocation:
    if cutoff_at is None and keep_sid is None and banned_until is None:
        return NO_REVOCATION
    return UserRevocation(_opt_f(cutoff_at), _opt_s(keep_sid), _opt_f(banned_until))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else 'timed out'}"
