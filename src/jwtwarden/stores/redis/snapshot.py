"""What a verifier asks the Redis store: the facts about one access token,
and the snapshot of every revocation that can still matter.

Both read the epoch in the same round trip (:mod:`.epoch`). The snapshot
reads the feed's last ID first, in the same pipeline as the indexes, so it
includes everything up to that position (docs/stores.md, "The revocation
feed").
"""

from __future__ import annotations

from ...core.view import RevocationSnapshot, event_forget_at
from ..base import RevocationFacts
from .codec import fmt_float, revocation_of
from .connection import Conn
from .epoch import EPOCH_FIELDS, Epoch
from .keys import Keys

__all__ = ["facts", "snapshot"]


async def facts(
    conn: Conn, keys: Keys, epoch: Epoch, sub: str, sid: str, jti: str, now: float
) -> RevocationFacts:
    """Everything that bears on one access token, in one pipeline."""
    pipe = conn.redis.pipeline(transaction=False)
    pipe.zscore(keys.denied, jti)
    pipe.hexists(keys.session(sid), "r")
    pipe.hmget(keys.user(sub), ["o", "k", "b"])
    pipe.hmget(keys.epoch, EPOCH_FIELDS)
    denied_until, revoked, user, epoch_fields = await pipe.execute()
    return RevocationFacts(
        jti_denied=denied_until is not None and denied_until > now,
        session_revoked=bool(revoked),
        user=revocation_of(*user),
        store_cutoff=await epoch.store_cutoff(conn, epoch_fields, now),
    )


async def snapshot(
    conn: Conn, keys: Keys, epoch: Epoch, now: float, horizon: float
) -> RevocationSnapshot:
    """Every revocation that can still matter at ``now``: what
    :func:`~jwtwarden.core.view.event_forget_at` keeps, each with that
    ``forget_at``. The indexes are read by score, the rule rearranged into
    a range (``at > now - horizon``), then judged exactly."""
    since = f"({fmt_float(now - horizon)}"
    pipe = conn.redis.pipeline(transaction=False)
    # The position first: every event up to it is in what follows.
    pipe.xrevrange(keys.feed, "+", "-", count=1)
    pipe.zrangebyscore(keys.denied, f"({fmt_float(now)}", "+inf", withscores=True)
    pipe.zrangebyscore(keys.revoked, since, "+inf", withscores=True)
    pipe.zrangebyscore(keys.cutoffs, since, "+inf")
    pipe.hmget(keys.epoch, EPOCH_FIELDS)
    last, denied, revoked, subs, epoch_fields = await pipe.execute()
    snap = RevocationSnapshot(position=last[0][0].decode() if last else "0-0")
    snap.denied = {jti.decode(): at for jti, at in denied}
    snap.sessions = {
        sid.decode(): forget_at
        for sid, at in revoked
        if (forget_at := event_forget_at("sid", at, None, horizon)) > now
    }
    await _users(conn, keys, snap, [s.decode() for s in subs], now, horizon)
    cutoff = await epoch.store_cutoff(conn, epoch_fields, now, horizon)
    if cutoff is not None:
        snap.store_cutoff = (cutoff, event_forget_at("store", cutoff, None, horizon))
    return snap


async def _users(
    conn: Conn, keys: Keys, snap: RevocationSnapshot, subs: list[str], now: float, horizon: float
) -> None:
    pipe = conn.redis.pipeline(transaction=False)
    for sub in subs:
        pipe.hmget(keys.user(sub), ["o", "k", "b"])
    for sub, fields in zip(subs, await pipe.execute(), strict=True):
        revocation = revocation_of(*fields)
        if revocation.cutoff_at is None:
            continue
        forget_at = event_forget_at("user", revocation.cutoff_at, None, horizon)
        if forget_at > now:
            snap.users[sub] = (revocation, forget_at)
