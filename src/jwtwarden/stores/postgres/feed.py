"""The revocation feed in PostgreSQL (``revocation_events``): events appended
in commit order under an advisory lock, ``NOTIFY`` at commit, and the rows
read back as a snapshot or as events (docs/stores.md, "The revocation
feed")."""

from __future__ import annotations

from typing import Any

from ...core.revocation import UserRevocation
from ...core.view import RevocationEvent, RevocationSnapshot, event_forget_at
from .._rows import event_from
from .connection import Conn
from .queries import APPEND_EVENT, FEED_CHANNEL, FEED_HEAD, FEED_LOCK, FEED_LOCK_TAKE, NOTIFY

__all__ = ["append_event", "events_from", "snapshot_from", "wait_for_event"]


async def append_event(conn: Conn, event: tuple[Any, ...]) -> None:
    """Append a feed event inside the caller's transaction.

    The advisory lock, held until commit, makes positions commit in order:
    ``nextval`` alone does not. It is taken after the revocation write, so
    the serialised part is this short tail of the transaction. Pipelined:
    the server runs the statements in order.
    """
    async with conn.pipeline():
        await conn.execute(FEED_LOCK_TAKE, (FEED_LOCK,))
        await conn.execute(APPEND_EVENT, event)
        await conn.execute(NOTIFY, (FEED_CHANNEL,))


async def wait_for_event(conn: Conn, start: int, timeout: float) -> None:
    """Return once this schema's feed has an event after ``start``, or a
    notice says it may, or after ``timeout`` seconds. Listens first, then
    reads the head, so an event committed in between is not missed."""
    await conn.execute(f"LISTEN {FEED_CHANNEL}")
    cur = await conn.execute(FEED_HEAD)
    row = await cur.fetchone()
    assert row is not None
    schema, last = row
    if last > start:
        return
    async for notice in conn.notifies(timeout=timeout):
        if notice.payload == schema:
            return


def snapshot_from(rows: list[Any], horizon: float) -> RevocationSnapshot:
    """A snapshot from the rows of :data:`~.queries.SNAPSHOT`."""
    snapshot = RevocationSnapshot()
    for kind, key, at, keep_sid, banned_until in rows:
        if kind == "p":
            snapshot.position = key
        elif kind == "d":
            snapshot.denied[key] = at
        elif kind == "s":
            snapshot.sessions[key] = event_forget_at("sid", at, None, horizon)
        else:
            snapshot.users[key] = (
                UserRevocation(at, keep_sid, banned_until),
                event_forget_at("user", at, None, horizon),
            )
    return snapshot


def events_from(rows: list[Any], horizon: float) -> list[RevocationEvent]:
    """Events from the rows of :data:`~.queries.REVOCATION_CHANGES` (a
    ``user`` event keeps its cutoff in ``at``)."""
    return [
        event_from(position, kind, key, at, forget_at, UserRevocation(at, keep, until), horizon)
        for position, kind, key, at, forget_at, keep, until in rows
    ]
