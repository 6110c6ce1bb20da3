"""What a verifier asks the Redis store: the facts about one access token,
and the snapshot of every revocation that can still matter.

The facts read the epoch in the same round trip (:mod:`.epoch`); the
snapshot checks it in full first, then reads the feed's last ID in the same
pipeline as the indexes, so it includes everything up to that position
(docs/stores.md, "The revocation feed"). A record Redis dropped while its
index entry survives still counts: a revoked session by the revoked index,
a user's cutoff by the cutoff index. A user's revocation state is the one
the feed last published (the mirror, ``P:u`` only where the mirror has none:
a store older than it).
"""

from __future__ import annotations

from ...core.revocation import UserRevocation
from ...core.view import RevocationSnapshot, event_forget_at
from ..base import RevocationFacts
from .codec import fmt_float, revocation_of
from .connection import Conn
from .epoch import EPOCH_FIELDS, Epoch
from .feed import position
from .keys import Keys

__all__ = ["facts", "snapshot"]


async def facts(
    conn: Conn, keys: Keys, epoch: Epoch, sub: str, sid: str, jti: str, now: float
) -> RevocationFacts:
    """Everything that bears on one access token, in one pipeline."""
    pipe = conn.redis.pipeline(transaction=False)
    pipe.zscore(keys.denied, jti)
    pipe.hexists(keys.session(sid, sub), "r")
    pipe.zscore(keys.revoked, sid)
    pipe.hmget(keys.user(sub), ["o", "k", "b"])
    pipe.hget(keys.mirror, sub)
    pipe.zscore(keys.cutoffs, sub)
    pipe.hmget(keys.epoch, EPOCH_FIELDS)
    denied_until, revoked, indexed, user, mirrored, cutoff, epoch_fields = await pipe.execute()
    state = await epoch.state(conn, epoch_fields, now)
    return RevocationFacts(
        jti_denied=denied_until is not None and denied_until > now,
        session_revoked=bool(revoked) or indexed is not None,
        user=_user(_published(mirrored, user), cutoff),
        store_cutoff=state.live_cutoff(now, epoch.horizon),
    )


def _published(mirrored: bytes | None, fields: list[bytes | None]) -> list[bytes | None]:
    """A user's ``o``, ``k``, ``b`` as the feed last published them
    (``scripts/user_feed.lua``), else as the user's hash holds them."""
    if mirrored is None:
        return fields
    return [part or None for part in mirrored.split(b"|")[1:]]


def _user(fields: list[bytes | None], indexed: float | None) -> UserRevocation:
    """The user's revocation state; its cutoff index entry alone if the
    user's record is gone (no ``keep_sid`` then: it fails closed)."""
    revocation = revocation_of(*fields)
    if indexed is not None and revocation.cutoff_at is None:
        return UserRevocation(indexed, None, revocation.banned_until)
    return revocation


async def snapshot(
    conn: Conn, keys: Keys, epoch: Epoch, now: float, horizon: float
) -> RevocationSnapshot:
    """Every revocation that can still matter at ``now``: what
    :func:`~jwtwarden.core.view.event_forget_at` keeps, each with that
    ``forget_at``. The indexes are read by score, the rule rearranged into
    a range (``at > now - horizon``), then judged exactly."""
    state = await epoch.check(conn, now)
    since = f"({fmt_float(now - horizon)}"
    pipe = conn.redis.pipeline(transaction=False)
    # The position first: every event up to it is in what follows.
    pipe.xrevrange(keys.feed, "+", "-", count=1)
    pipe.zrangebyscore(keys.denied, f"({fmt_float(now)}", "+inf", withscores=True)
    pipe.zrangebyscore(keys.revoked, since, "+inf", withscores=True)
    pipe.zrangebyscore(keys.cutoffs, since, "+inf", withscores=True)
    last, denied, revoked, subs = await pipe.execute()
    snap = RevocationSnapshot(position=position(last[0][0] if last else b"0-0", state.id))
    snap.denied = {jti.decode(): at for jti, at in denied}
    snap.sessions = {
        sid.decode(): forget_at
        for sid, at in revoked
        if (forget_at := event_forget_at("sid", at, None, horizon)) > now
    }
    await _users(conn, keys, snap, {s.decode(): at for s, at in subs}, now, horizon)
    cutoff = state.live_cutoff(now, horizon)
    if cutoff is not None:
        snap.store_cutoff = (cutoff, event_forget_at("store", cutoff, None, horizon))
    return snap


async def _users(
    conn: Conn,
    keys: Keys,
    snap: RevocationSnapshot,
    subs: dict[str, float],
    now: float,
    horizon: float,
) -> None:
    pipe = conn.redis.pipeline(transaction=False)
    for sub in subs:
        pipe.hmget(keys.user(sub), ["o", "k", "b"])
        pipe.hget(keys.mirror, sub)
    replies = await pipe.execute()
    for (sub, indexed), fields, mirrored in zip(
        subs.items(), replies[::2], replies[1::2], strict=True
    ):
        revocation = _user(_published(mirrored, fields), indexed)
        if revocation.cutoff_at is None:
            continue
        forget_at = event_forget_at("user", revocation.cutoff_at, None, horizon)
        if forget_at > now:
            snap.users[sub] = (revocation, forget_at)
