"""RedisStore: the store's operations, each one or a few round trips.

Every multi-key or read-modify-write step is one Lua script
(``scripts/*.lua``); keys are named in :mod:`.keys`, fields coded in
:mod:`.codec`, clients kept in :mod:`.connection`. The design (key layout,
atomic steps, the feed, TTLs, durability, data loss) is in docs/stores.md.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from importlib import resources
from typing import cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...core.clients import Client
from ...core.policy import Policy
from ...core.sessions import Session
from ...core.users import User, normalize_username
from ...core.view import RevocationEvent, RevocationSnapshot
from ...errors import ConfigurationError, StoreConflictError
from ..base import RevocationFacts
from ..breaker import BreakerPolicy
from . import feed, snapshot
from .codec import (
    client_fields,
    client_of,
    fmt_float,
    fmt_time,
    pairs,
    session_and_user,
    session_fields,
    session_of,
    ttl_ms,
    user_fields,
    user_of,
)
from .connection import Conn, Connector
from .epoch import Epoch
from .keys import Keys
from .purge import Purger

__all__ = ["RedisStore"]

#: How long a name claim waits for its record before it frees itself.
_CLAIM_TTL = 60
#: ``scripts/once.lua``: registered per call rather than in ``Scripts``,
#: since single-use ids are rare (a grant, not every refresh).
_ONCE_SCRIPT = resources.files(__package__).joinpath("scripts", "once.lua").read_text()
_TRUE = {"1", "true", "yes", "on"}
#: sid -> sub entries a Cluster store remembers (a session never changes
#: user): a hit spares the pointer read before a refresh.
_SUBS_CACHED = 50_000
#: The URL options of ``redis+cluster://``: ours only (the seed list is the
#: host part; a user name and password may precede it).
_CLUSTER_OPTIONS = {"prefix", "require_noeviction", "wait"}


class RedisStore:
    """A store in Redis (``redis://host:port/db``) or Redis Cluster
    (``redis+cluster://host:port[,host:port…]``, any seed nodes), for a
    service judged by ``policy`` (default ``Policy()``): every TTL the store
    sets comes from it.

    URL options besides redis-py's own: ``prefix`` (default ``jw``; letters,
    digits and ``_.-``) so that several stores share one database, and
    ``require_noeviction=true`` to refuse a server whose
    ``maxmemory-policy`` could evict keys. ``timeout`` bounds connecting and
    each command, in seconds; ``max_connections`` caps the pool of each
    event loop (a burst beyond it waits for a connection); ``breaker`` says
    when the server counts as down (:mod:`..breaker`). ``wait=N`` (default
    1 on Cluster, 0 on one server) holds each revocation's acknowledgement
    until ``N`` replicas have it (``WAIT``). Raises
    :class:`~jwtwarden.errors.ConfigurationError` for a bad prefix or URL.
    """

    def __init__(
        self,
        url: str,
        *,
        policy: Policy | None = None,
        timeout: float = 2.0,
        max_connections: int = 256,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        seeds = _seeds(parts.netloc, query) if parts.scheme == "redis+cluster" else None
        keys = Keys(query.pop("prefix", "jw"), cluster=seeds is not None)
        require_noeviction = query.pop("require_noeviction", "").lower() in _TRUE
        wait = _count(query.pop("wait", "1" if seeds is not None else "0"))
        self._subs: OrderedDict[str, str] = OrderedDict()
        #: Every key starts with this and a colon.
        self.prefix = keys.prefix
        #: The policy the store was opened with: its TTLs.
        self.policy = policy or Policy()
        self._keys = keys
        # The key layout, under the names the Redis-specific tests use.
        self._key = keys.named
        self._session_key = keys.session
        self._user_key = keys.user
        self._user_sessions_key = keys.user_sessions
        self._failures_key = keys.failures
        # The scripts' TTL arguments: a revoked session, the revocation
        # indexes and the feed live one revocation horizon (in ms); a session
        # its idle TTL after its last use (in s).
        self._horizon_ms = ttl_ms(self.policy.revocation_horizon)
        self._idle = fmt_float(self.policy.idle_ttl)
        self._epoch = Epoch(keys, horizon=self.policy.revocation_horizon, feed_ttl=self._horizon_ms)
        self._purger = Purger(keys)
        self._conn = Connector(
            urlunsplit(parts._replace(query=urlencode(query))),
            name=f"jwtwarden:{keys.prefix}",
            timeout=timeout,
            max_connections=max_connections,
            require_noeviction=require_noeviction,
            breaker=breaker,
            cluster=seeds,
            wait_replicas=wait,
        )

    async def ping(self) -> None:
        async def ping(conn: Conn) -> None:
            await conn.redis.ping()

        await self._conn.run(ping)

    async def close(self) -> None:
        """Close the client of the running loop; those of other (finished)
        loops are dropped."""
        await self._conn.close()

    # users

    async def create_user(self, user: User) -> None:
        name = self._keys.name(user.username_key)

        async def create(conn: Conn) -> None:
            # Claim the name first (freeing itself if we die), then the record.
            if not await conn.redis.set(name, user.sub, nx=True, ex=_CLAIM_TTL):
                raise StoreConflictError("That username is taken.")
            created = await conn.scripts.create(
                keys=[self._user_key(user.sub)], args=["0", *user_fields(user)]
            )
            if not created:
                await conn.scripts.release(keys=[name], args=[user.sub])
                raise StoreConflictError("That user id is taken.")
            pipe = conn.redis.pipeline(transaction=False)
            pipe.persist(name)
            pipe.rpush(self._keys.users, user.sub)
            await pipe.execute()

        await self._conn.run(create)

    async def get_user(self, sub: str) -> User | None:
        async def get(conn: Conn) -> User | None:
            return user_of(sub, await _hgetall(conn, self._user_key(sub)))

        return await self._conn.run(get)

    async def find_user(self, username: str) -> User | None:
        async def find(conn: Conn) -> User | None:
            found = await conn.redis.get(self._keys.name(normalize_username(username)))
            if found is None:
                return None
            sub = cast("bytes", found).decode()
            return user_of(sub, await _hgetall(conn, self._user_key(sub)))

        return await self._conn.run(find)

    async def list_users(self) -> list[User]:
        async def list_all(conn: Conn) -> list[User]:
            listed = cast("list[bytes]", await conn.redis.lrange(self._keys.users, 0, -1))
            subs = list(dict.fromkeys(s.decode() for s in listed))
            pipe = conn.redis.pipeline(transaction=False)
            for sub in subs:
                pipe.hgetall(self._user_key(sub))
            found = [user_of(sub, h) for sub, h in zip(subs, await pipe.execute(), strict=True)]
            return sorted((u for u in found if u is not None), key=lambda u: u.created_at)

        return await self._conn.run(list_all)

    async def set_password(
        self, sub: str, password_hash: str, cutoff_at: float | None, keep_sid: str | None
    ) -> bool:
        return await self._update_user(sub, cutoff_at, keep_sid, h=password_hash)

    async def set_roles(self, sub: str, roles: tuple[str, ...], cutoff_at: float) -> bool:
        return await self._update_user(sub, cutoff_at, None, r=json.dumps(list(roles)))

    async def set_cutoff(self, sub: str, cutoff_at: float, keep_sid: str | None) -> bool:
        return await self._update_user(sub, cutoff_at, keep_sid)

    async def set_ban(self, sub: str, until: float, cutoff_at: float) -> bool:
        return await self._update_user(sub, cutoff_at, None, b=fmt_float(until))

    async def lift_ban(self, sub: str) -> bool:
        return await self._update_user(sub, None, None, b="")

    async def _update_user(
        self, sub: str, cutoff_at: float | None, keep_sid: str | None, **fields: str
    ) -> bool:
        ban = fields.pop("b", None)

        async def update(conn: Conn) -> bool:
            state: list[str | bytes] = ["", "", "", ""]
            # Only a cutoff or a ban changes what a verifier refuses: that goes
            # on the feed first, in the revocation slot, then into the user's
            # hash (where rotations judge it), by version. A crash in between
            # fails closed: verifiers refuse what the hash still allows.
            if cutoff_at is not None or ban is not None:
                user = await conn.redis.hmget(self._user_key(sub), ["n", "v", "o", "k", "b"])
                if user[0] is None:
                    return False
                seed = "|".join(v.decode() if v else "" for v in user[1:])
                seed = seed if seed[0] != "|" else "0" + seed
                state = await self._conn.durably(
                    conn,
                    conn.scripts.user_feed,
                    [self._keys.mirror, self._keys.cutoffs, self._keys.feed],
                    [
                        sub,
                        self._horizon_ms,
                        fmt_float(cutoff_at) if cutoff_at is not None else "",
                        keep_sid or "",
                        "" if ban is None else (ban or "-"),
                        seed,
                    ],
                )
            args = [*state]
            for name, value in fields.items():
                args += [name, value]
            return bool(await conn.scripts.user(keys=[self._user_key(sub)], args=args))

        return await self._conn.run(update)

    # sessions

    async def create_session(self, session: Session) -> None:
        now = session.last_used_at
        # The key lives until the session's absolute or idle end, whichever
        # comes first (core.sessions.Session.is_expired).
        deadline = min(session.expires_at, now + self.policy.idle_ttl)

        async def create(conn: Conn) -> None:
            if self._keys.cluster:
                # The pointer first (sid -> sub, to find the session's slot);
                # one left by a crash points at nothing.
                pointer = self._keys.pointer(session.sid)
                ttl = ttl_ms(session.expires_at - now)
                if not await conn.redis.set(pointer, session.sub, nx=True, px=int(ttl)):
                    raise StoreConflictError("session id collision")
                self._remember(session.sid, session.sub)
            created = await conn.scripts.create(
                keys=[self._keys.session(session.sid, session.sub)],
                args=[ttl_ms(deadline - now), *session_fields(session)],
            )
            if not created:
                raise StoreConflictError("session id collision")
            # The user's index drops members whose sessions have expired.
            await conn.scripts.index(
                keys=[self._user_sessions_key(session.sub)],
                args=[
                    session.sid,
                    fmt_float(session.expires_at),
                    fmt_float(now),
                    ttl_ms(session.expires_at - now),
                    "GT",
                ],
            )

        await self._conn.run(create)

    async def get_session(self, sid: str) -> tuple[Session, User] | None:
        async def get(conn: Conn) -> tuple[Session, User] | None:
            keys = await self._locate(conn, sid)
            if keys is None:
                return None
            found = await conn.scripts.session(keys=keys, args=[self.prefix])
            return session_and_user(sid, found)

        return await self._conn.run(get)

    async def rotate(self, sid: str, expected_generation: int, now: float) -> Session | None:
        async def rotate(conn: Conn) -> Session | None:
            keys = await self._locate(conn, sid)
            if keys is None:
                return None
            fields = await conn.scripts.rotate(
                keys=keys[:1],
                args=[str(expected_generation), fmt_time(now), self._idle],
            )
            return None if not fields else session_of(sid, pairs(fields))

        return await self._conn.run(rotate)

    async def rotate_if_live(
        self, sid: str, expected_generation: int, now: float, idle_ttl: float
    ) -> tuple[Session, User] | None:
        # The whole rule is in the script (core.rotation.rotates_now): one
        # EVALSHA, the hot path of every refresh.
        async def rotate(conn: Conn) -> tuple[Session, User] | None:
            keys = await self._locate(conn, sid)
            if keys is None:
                return None
            found = await conn.scripts.rotate_live(
                keys=keys,
                args=[
                    str(expected_generation),
                    fmt_time(now),
                    fmt_float(idle_ttl),
                    sid,
                    self.prefix,
                ],
            )
            return session_and_user(sid, found)

        return await self._conn.run(rotate)

    async def revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        async def revoke(conn: Conn) -> Session | None:
            keys = await self._locate(conn, sid)
            if keys is None:
                return None
            marked = await conn.redis.hmget(keys[0], ["g", "r"])
            if marked[0] is None or marked[1] is not None:
                return None  # no such session, or revoked already: no event
            # Its index entry and feed event first, in the revocation slot
            # (keeping an earlier revocation's time): a crash before the
            # session is marked fails closed.
            await self._conn.durably(
                conn,
                conn.scripts.revoked,
                [self._keys.revoked, self._keys.feed],
                [sid, fmt_float(now), self._horizon_ms],
            )
            fields = await conn.scripts.revoke(
                keys=keys[:1], args=[fmt_time(now), reason, self._horizon_ms]
            )
            return None if not fields else session_of(sid, pairs(fields))

        return await self._conn.run(revoke)

    async def list_sessions(self, sub: str) -> list[Session]:
        async def list_all(conn: Conn) -> list[Session]:
            index = self._user_sessions_key(sub)
            sids = [s.decode() for s in cast("list[bytes]", await conn.redis.zrange(index, 0, -1))]
            pipe = conn.redis.pipeline(transaction=False)
            for sid in sids:
                pipe.hgetall(self._keys.session(sid, sub))
            found = [session_of(sid, h) for sid, h in zip(sids, await pipe.execute(), strict=True)]
            gone = [sid for sid, s in zip(sids, found, strict=True) if s is None]
            if gone:
                await conn.redis.zrem(index, *gone)
            return sorted((s for s in found if s is not None), key=lambda s: s.auth_time)

        return await self._conn.run(list_all)

    # access-token revocations

    async def deny_jti(self, jti: str, forget_at: float) -> None:
        # The protocol gives no "now" here: the wall clock decides the TTL.
        ttl = forget_at - time.time()
        if ttl <= 0:
            return  # the token has expired already; nothing to deny

        async def deny(conn: Conn) -> None:
            await self._conn.durably(
                conn,
                conn.scripts.deny,
                [self._keys.denied, self._keys.feed],
                [jti, fmt_float(forget_at), ttl_ms(ttl)],
            )

        await self._conn.run(deny)

    async def revocation_facts(self, sub: str, sid: str, jti: str, now: float) -> RevocationFacts:
        async def facts(conn: Conn) -> RevocationFacts:
            return await snapshot.facts(conn, self._keys, self._epoch, sub, sid, jti, now)

        return await self._conn.run(facts)

    async def revocation_snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        async def read(conn: Conn) -> RevocationSnapshot:
            return await snapshot.snapshot(conn, self._keys, self._epoch, now, horizon)

        return await self._conn.run(read)

    async def revocation_changes(
        self, after: str | None, now: float, horizon: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        async def changes(conn: Conn) -> list[RevocationEvent]:
            epoch = await self._epoch.check(conn, now)
            return await feed.changes(conn, self._keys.feed, epoch.id, after, now, horizon, limit)

        return await self._conn.run(changes)

    async def check_continuity(self, witness: str | None, now: float, *, may_be_new: bool) -> str:
        """Compare the store's epoch with ``witness``, the epoch the keyring
        last signed under, and raise a store cutoff at ``now`` if the store
        cannot prove it kept its revocations; ``may_be_new`` when the ring was
        just made where the store's loss cannot reach it. The epoch to bind
        the ring to (:mod:`.epoch`)."""

        async def confirm(conn: Conn) -> str:
            state = await self._epoch.confirm(conn, now, witness, may_be_new=may_be_new)
            return state.id

        return await self._conn.run(confirm)

    async def wait_for_revocations(self, after: str | None, timeout: float) -> None:
        """Return once the feed may hold an event after ``after``, or after
        ``timeout`` seconds: a follower's wait between
        :meth:`revocation_changes` calls instead of polling (``XREAD
        BLOCK``). Raises StoreUnavailableError."""
        await feed.wait(self._conn, self._keys.feed, after, timeout)

    async def purge_expired(self, now: float, policy: Policy) -> int:
        async def purge(conn: Conn) -> int:
            return await self._purger.purge(conn, now, policy)

        return await self._conn.run(purge)

    # login throttling

    async def login_failures(
        self, keys: Sequence[str], since: float
    ) -> list[tuple[int, float | None]]:
        async def count(conn: Conn) -> list[tuple[int, float | None]]:
            after = f"({fmt_float(since)}"
            pipe = conn.redis.pipeline(transaction=False)
            for key in keys:
                pipe.zcount(self._failures_key(key), after, "+inf")
                pipe.zrangebyscore(
                    self._failures_key(key), after, "+inf", start=0, num=1, withscores=True
                )
            replies = await pipe.execute()
            return [
                (int(n), oldest[0][1] if oldest else None)
                for n, oldest in zip(replies[::2], replies[1::2], strict=True)
            ]

        return await self._conn.run(count)

    async def record_login_failure(self, keys: Sequence[str], now: float, since: float) -> None:
        async def record(conn: Conn) -> None:
            member = f"{fmt_float(now)}:{secrets.token_hex(4)}"
            args = [member, fmt_float(now), fmt_float(since), ttl_ms(now - since), ""]
            await asyncio.gather(
                *(conn.scripts.index(keys=[self._failures_key(key)], args=args) for key in keys)
            )

        await self._conn.run(record)

    async def clear_login_failures(self, key: str) -> None:
        async def clear(conn: Conn) -> None:
            await conn.redis.delete(self._failures_key(key))

        await self._conn.run(clear)

    # resource-server clients

    async def create_client(self, client: Client) -> None:
        name = self._keys.client_name(client.name)

        async def create(conn: Conn) -> None:
            if not await conn.redis.set(name, client.client_id, nx=True, ex=_CLAIM_TTL):
                raise StoreConflictError("That client name is taken.")
            created = await conn.scripts.create(
                keys=[self._keys.client(client.client_id)], args=["0", *client_fields(client)]
            )
            if not created:
                await conn.scripts.release(keys=[name], args=[client.client_id])
                raise StoreConflictError("That client id is taken.")
            await conn.redis.persist(name)

        await self._conn.run(create)

    async def get_client(self, client_id: str) -> Client | None:
        async def get(conn: Conn) -> Client | None:
            return client_of(client_id, await _hgetall(conn, self._keys.client(client_id)))

        return await self._conn.run(get)

    # single-use ids

    async def remember_once(self, namespace: str, key: str, now: float, until: float) -> bool:
        if until <= now:
            return True  # gone as soon as it is kept: nothing to remember
        args = [fmt_float(now), fmt_float(until), str(max(1, math.ceil((until - now) * 1000)))]

        async def remember(conn: Conn) -> bool:
            script = conn.redis.register_script(_ONCE_SCRIPT)
            return bool(await script(keys=[self._keys.once(namespace, key)], args=args))

        return await self._conn.run(remember)

    # secret material

    async def load_keyring(self) -> bytes | None:
        async def load(conn: Conn) -> bytes | None:
            value = cast("bytes | None", await conn.redis.get(self._keys.keyring))
            return None if value is None else bytes(value)

        return await self._conn.run(load)

    async def save_keyring(self, blob: bytes, expected: bytes | None) -> bool:
        async def save(conn: Conn) -> bool:
            args: list[str | bytes] = (
                ["0", b"", blob] if expected is None else ["1", expected, blob]
            )
            return bool(await conn.scripts.swap(keys=[self._keys.keyring], args=args))

        return await self._conn.run(save)

    async def _locate(self, conn: Conn, sid: str) -> list[str] | None:
        """The keys of a session and of its user, in one slot: on one
        server the session's alone (its scripts find the user); on Cluster
        both, the sub read from the pointer unless remembered. ``None``: no
        such session."""
        if not self._keys.cluster:
            return [self._keys.session(sid)]
        sub = self._subs.get(sid)
        if sub is None:
            found = await conn.redis.get(self._keys.pointer(sid))
            if found is None:
                return None
            sub = cast("bytes", found).decode()
            self._remember(sid, sub)
        return [self._keys.session(sid, sub), self._user_key(sub)]

    def _remember(self, sid: str, sub: str) -> None:
        self._subs[sid] = sub
        if len(self._subs) > _SUBS_CACHED:
            self._subs.popitem(last=False)


def _seeds(netloc: str, query: dict[str, str]) -> list[tuple[str, int]]:
    """The seed nodes of a ``redis+cluster://`` URL's host part."""
    unknown = set(query) - _CLUSTER_OPTIONS
    if unknown:
        raise ConfigurationError(
            f"unknown redis+cluster:// URL option(s) {sorted(unknown)}: "
            f"use {sorted(_CLUSTER_OPTIONS)}"
        )
    seeds = []
    for seed in netloc.rpartition("@")[2].split(","):
        host, _, port = seed.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(
                "a Redis Cluster URL is redis+cluster://HOST:PORT[,HOST:PORT…]"
            )
        seeds.append((host.strip("[]"), int(port)))
    return seeds


def _count(value: str) -> int:
    if not value.isdigit() or int(value) > 16:
        raise ConfigurationError("wait= is a number of replicas, 0-16")
    return int(value)


async def _hgetall(conn: Conn, key: str) -> dict[bytes, bytes]:
    return cast("dict[bytes, bytes]", await conn.redis.hgetall(key))
