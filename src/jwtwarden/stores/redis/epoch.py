"""Data-loss detection for the Redis store: the epoch and the store cutoff.

The store keeps an epoch (``P:e``: an id, created on first contact). Every
read of revocation facts or the snapshot reads it in the same round trip; a
process that saw the epoch before and finds it gone knows the store lost its
data, writes a new epoch carrying a *store cutoff* at the ``now`` it was
given (and its feed event, ``scripts/epoch.lua``), and from then on every
process reports that cutoff for one revocation horizon: every access token
from before the loss is revoked. See docs/stores.md, "Data loss".
"""

from __future__ import annotations

import logging
import secrets
import time

from ...core.view import event_forget_at
from .codec import fmt_float
from .connection import Conn
from .keys import Keys

__all__ = ["EPOCH_FIELDS", "Epoch"]

logger = logging.getLogger(__package__)

#: The epoch hash's fields to read with the facts: pass the reply to
#: :meth:`Epoch.store_cutoff`.
EPOCH_FIELDS = ("id", "c")


class Epoch:
    """The epoch this process has seen, and the store cutoff it implies."""

    def __init__(self, keys: Keys, *, horizon: float, feed_ttl: str) -> None:
        self._keys = keys
        self._horizon = horizon
        self._feed_ttl = feed_ttl
        self._seen: str | None = None

    async def first_contact(self, conn: Conn) -> None:
        """Read the epoch, or create it (a fresh store: no cutoff)."""
        run_id = (await conn.redis.info("server")).get("run_id", "")
        fields = await conn.scripts.epoch(
            keys=[self._keys.epoch, self._keys.feed],
            args=[secrets.token_hex(8), "", repr(time.time()), run_id, "0"],
        )
        self._seen = fields[0].decode()

    async def store_cutoff(
        self, conn: Conn, epoch: list[bytes | None], now: float, horizon: float | None = None
    ) -> float | None:
        """The store cutoff to report at ``now``, given the epoch's
        :data:`EPOCH_FIELDS` as just read: a missing epoch that this process
        saw before means data loss, and a new one is written with a cutoff at
        ``now``. ``horizon`` defaults to the store's policy."""
        epoch_id, cutoff = epoch
        if epoch_id is None:
            epoch_id, cutoff = await conn.scripts.epoch(
                keys=[self._keys.epoch, self._keys.feed],
                args=[secrets.token_hex(8), fmt_float(now), repr(time.time()), "", self._feed_ttl],
            )
        assert epoch_id is not None
        if epoch_id.decode() != self._seen:
            logger.warning(
                "Redis store %s lost its data (its epoch changed): every token issued before "
                "the loss is treated as revoked for one access-token lifetime",
                self._keys.prefix,
            )
            self._seen = epoch_id.decode()
        if not cutoff:
            return None
        at = float(cutoff)
        horizon = self._horizon if horizon is None else horizon
        return at if event_forget_at("store", at, None, horizon) > now else None
