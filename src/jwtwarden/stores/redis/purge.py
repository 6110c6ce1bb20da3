"""The Redis store's purge: deleting what is dead by the caller's ``now``.

Keys carry TTLs, so Redis forgets most things on its own; a purge also
deletes what is dead by a ``now`` that the server's clock has not reached.
Sessions and failed-login sets are swept with SCAN, a bounded batch per call
(and per primary, on Cluster) that resumes where the last one stopped; each session is judged by
:func:`jwtwarden.core.sessions.is_purgeable` and deleted only if it has not
changed since it was read (``scripts/forget.lua``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from ...core.policy import Policy
from ...core.sessions import is_purgeable
from . import feed
from .codec import fmt_float, revocation_of, session_of
from .connection import Conn
from .keys import Keys, sid_of

__all__ = ["Purger"]

#: Keys a purge sweeps per kind and call (SCAN pages of about 500).
_SWEEP_BUDGET = 20_000
_SCAN_COUNT = 500


class Purger:
    """One store's purge, remembering where each sweep stopped."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys
        self._cursors: dict[str, int] = {}

    async def purge(self, conn: Conn, now: float, policy: Policy) -> int:
        """Delete what is dead at ``now`` under ``policy``; how many
        records and events went."""
        keys, horizon = self._keys, policy.revocation_horizon
        # The watched indexes are trimmed by scripts/trim.lua, so one the
        # trim empties is not taken for a lost one. Index entries go past
        # core.view.event_forget_at (at + horizon <= now), rearranged into a
        # score range.
        denied = 0
        for key, upto in (
            (keys.denied, now),
            (keys.revoked, now - horizon),
            (keys.cutoffs, now - horizon),
        ):
            trimmed = await conn.scripts.trim(keys=[key, keys.epoch], args=[fmt_float(upto)])
            denied += int(trimmed) if key == keys.denied else 0
        sessions = await self._sweep(conn, "s", lambda ks: self._sessions(conn, ks, now, policy))
        before = now - policy.login_window
        failures = await self._sweep(conn, "f", lambda ks: _failures(conn, ks, before))
        events = await feed.purge(conn, keys.feed, now, horizon)
        return int(denied) + sessions + failures + events

    async def _sweep(
        self, conn: Conn, kind: str, batch: Callable[[list[bytes]], Awaitable[int]]
    ) -> int:
        """SCAN the keys of one kind, a page at a time, resuming where the last
        purge stopped, up to the budget: the work per call stays bounded. On
        Cluster each primary is swept in turn, with a cursor of its own."""
        if not self._keys.cluster:
            return await self._sweep_node(conn, kind, None, batch)
        total = 0
        for node in conn.redis.get_primaries():
            total += await self._sweep_node(conn, kind, node, batch)
        return total

    async def _sweep_node(
        self,
        conn: Conn,
        kind: str,
        node: Any,
        batch: Callable[[list[bytes]], Awaitable[int]],
    ) -> int:
        at = kind if node is None else f"{kind}@{node.name}"
        cursor, seen, total = self._cursors.get(at, 0), 0, 0
        pattern = self._keys.pattern(kind)
        while seen < _SWEEP_BUDGET:
            if node is None:
                found = await conn.redis.scan(cursor, match=pattern, count=_SCAN_COUNT)
                cursor, keys = cast("tuple[int, list[bytes]]", found)
            else:
                cursors, keys = await conn.redis.scan(
                    cursor, match=pattern, count=_SCAN_COUNT, target_nodes=node
                )
                cursor = int(cursors[node.name])
            seen += len(keys) or 1
            if keys:
                total += await batch(keys)
            if cursor == 0:
                break
        self._cursors[at] = cursor
        return total

    async def _sessions(self, conn: Conn, keys: list[bytes], now: float, policy: Policy) -> int:
        keys = [k for k in keys if self._keys.is_session(k)]  # not their indexes
        pipe = conn.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        hashes = cast("list[dict[bytes, bytes]]", await pipe.execute())
        rows = [
            (key, h, session)
            for key, h in zip(keys, hashes, strict=True)
            if b"g" in h and (session := session_of(sid_of(key), h)) is not None
        ]
        subs = list({session.sub for _, _, session in rows})
        pipe = conn.redis.pipeline(transaction=False)
        for sub in subs:
            pipe.hmget(self._keys.user(sub), ["n", "o", "k", "b"])
        users = dict(zip(subs, await pipe.execute(), strict=True))
        deleted = 0
        for key, h, session in rows:
            user = users[session.sub]
            revocation = None if user[0] is None else revocation_of(*user[1:])
            if not is_purgeable(session, revocation, now=now, policy=policy):
                continue
            # Deleted only if still as judged: not rotated, used or revoked since.
            if await conn.scripts.forget(keys=[key], args=[h[b"g"], h[b"l"], h.get(b"r", b"")]):
                deleted += 1
                await conn.redis.zrem(self._keys.user_sessions(session.sub), session.sid)
        return deleted


async def _failures(conn: Conn, keys: list[bytes], before: float) -> int:
    pipe = conn.redis.pipeline(transaction=False)
    for key in keys:
        pipe.zremrangebyscore(key, "-inf", fmt_float(before))
    return sum(int(n) for n in await pipe.execute())
