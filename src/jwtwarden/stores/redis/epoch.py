"""Data-loss detection for the Redis store: the epoch and the store cutoff.

The store keeps an epoch (``P:e``): an id, the instant it began, and a
*store cutoff* when it began after a loss. Whoever finds the epoch missing,
or finds that Redis dropped a watched revocation key (the denylist, the
revocation indexes, the feed) before that key's own expiry, replaces it with
a new epoch whose cutoff is ``now`` (``scripts/epoch.lua``, one atomic step
with the cutoff's feed event). Every process then reports that cutoff for
one revocation horizon: every access token from before the loss is revoked.

The only way to make an epoch *without* a cutoff is a witness that no token
can exist: a keyring just made, kept where the store's data loss cannot
reach (a key file). A ring remembers the epoch it signs under
(``KeyRing.store_epoch``, bound at start-up); a ring that remembers another
epoch than the store's raises the store's cutoff to its epoch's beginning,
late. So the order in which processes, the CLI or verifiers touch a store
after a loss does not matter. See docs/stores.md, "Data loss".

Feed positions carry the epoch (``<stream id>@<epoch id>``): a follower
holding a position from an earlier epoch reads the new feed from its start,
where the store event is.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from ...core.view import event_forget_at
from .codec import fmt_float
from .connection import Conn
from .keys import Keys

__all__ = ["EPOCH_FIELDS", "Epoch", "EpochState"]

logger = logging.getLogger(__package__)

#: The epoch hash's fields a read takes with its facts: pass the reply to
#: :meth:`Epoch.state`.
EPOCH_FIELDS = ("id", "c")


@dataclass(frozen=True, slots=True)
class EpochState:
    """The store's epoch as last read."""

    id: str
    #: The store cutoff (the epoch began after a loss), or ``None``.
    cutoff: float | None

    def live_cutoff(self, now: float, horizon: float) -> float | None:
        """The cutoff while it can still matter at ``now``."""
        if self.cutoff is None or event_forget_at("store", self.cutoff, None, horizon) <= now:
            return None
        return self.cutoff


class Epoch:
    """The epoch this process's tokens are issued under (its witness), and
    the checks that keep it honest."""

    def __init__(self, keys: Keys, *, horizon: float, feed_ttl: str) -> None:
        self._keys = keys
        self.horizon = horizon
        self._feed_ttl = feed_ttl
        self._seen: str | None = None
        #: The keys whose early disappearance is a loss.
        self._watched = [keys.denied, keys.revoked, keys.cutoffs, keys.feed]

    async def confirm(
        self, conn: Conn, now: float, witness: str | None, *, may_be_new: bool
    ) -> EpochState:
        """Check the store against ``witness`` (the epoch a keyring last
        signed under): the epoch in place after the check, which this
        process then issues under."""
        self._seen = witness
        return await self._check(conn, now, may_be_new=may_be_new)

    async def check(self, conn: Conn, now: float) -> EpochState:
        """The full check (watched keys included), as the feed's readers run
        it: a loss found here is a new epoch with a cutoff at ``now``."""
        return await self._check(conn, now, may_be_new=self._seen is None)

    async def state(self, conn: Conn, fields: list[bytes | None], now: float) -> EpochState:
        """The epoch from its :data:`EPOCH_FIELDS` as just read, checked in
        full only if it is not the one this process issues under."""
        epoch_id, cutoff = fields
        if epoch_id is None or self._seen is None or epoch_id.decode() != self._seen:
            return await self.check(conn, now)
        return EpochState(epoch_id.decode(), float(cutoff) if cutoff else None)

    async def _check(self, conn: Conn, now: float, *, may_be_new: bool) -> EpochState:
        run_id = ""
        if self._seen is None:
            run_id = str((await conn.redis.info("server")).get("run_id", ""))
        epoch_id, cutoff, lost = await conn.scripts.epoch(
            keys=[self._keys.epoch, self._keys.feed, *self._watched],
            args=[
                secrets.token_hex(8),
                fmt_float(now),
                self._seen or "",
                "1" if may_be_new else "0",
                self._feed_ttl,
                run_id,
            ],
        )
        state = EpochState(epoch_id.decode(), float(cutoff) if cutoff else None)
        if lost == b"1":
            logger.warning(
                "Redis store %s cannot prove it kept its revocations (its epoch or a revocation "
                "key is gone): every token issued before %s is revoked for one access-token "
                "lifetime",
                self._keys.prefix,
                state.cutoff,
            )
        self._seen = state.id
        return state
