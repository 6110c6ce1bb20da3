"""RevocationFollower: keeps a RevocationView current from a store's feed.

One follower per server process: it loads a snapshot, then follows the
store's revocation feed (waiting on the store's push mechanism where it has
one, polling otherwise). The server checks access tokens against its view
with no store round trip, and relays the same events to remote verifiers
(``GET /revocations``), so the number of verifiers adds no load on the store.

``staleness`` says how long ago the follower last heard from the store; a
caller decides what to do when that is too long (the server falls back to
asking the store; a verifier rejects or allows, as configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from ..clock import Clock
from ..core.view import RevocationEvent, RevocationSnapshot, RevocationView
from ..errors import StoreError
from ..events import log_value
from ..stores.base import Store, WaitsForRevocations

__all__ = ["RevocationFollower"]

logger = logging.getLogger("jwtwarden.feed")

#: Events kept for relaying to verifiers that reconnect with a position: the
#: only buffer of the feed endpoint (each stream reads from it, none keeps
#: its own). About 300 bytes an event, so about 3 MB at most; a verifier
#: further behind starts again from a snapshot.
RECENT_EVENTS = 10_000


class RevocationFollower:
    """Follow ``store``'s revocation feed into ``view``."""

    def __init__(
        self,
        store: Store,
        view: RevocationView,
        *,
        clock: Clock,
        horizon: float,
        poll_interval: float = 0.05,
        keep_events: int = RECENT_EVENTS,
    ) -> None:
        self.store = store
        self.view = view
        self.clock = clock
        self.horizon = horizon
        self.poll_interval = poll_interval
        #: The feed position everything up to has been applied.
        self.position: str | None = None
        #: When the store last answered (clock time); -inf before the first.
        self.synced_at = float("-inf")
        #: Recent events, for relaying to reconnecting verifiers.
        self.recent: deque[RevocationEvent] = deque(maxlen=keep_events)
        #: ``recent`` holds exactly the events after this position.
        self._base: str | None = None
        #: Set (and replaced) when events are applied. An Event, not a
        #: Condition: a stream cancelled again and again while it waits (anyio
        #: repeats a cancel until the task ends) could leave a Condition's
        #: lock held, and every later poll waited for it for ever.
        self._changed = asyncio.Event()
        self._polling = asyncio.Lock()
        self._loaded = False

    def staleness(self, now: float | None = None) -> float:
        """Seconds since the store last answered."""
        return (self.clock.now() if now is None else now) - self.synced_at

    async def load(self) -> RevocationSnapshot:
        """Load a snapshot into the view and remember its position."""
        now = self.clock.now()
        snapshot = await self.store.revocation_snapshot(now, self.horizon)
        self.view.load(snapshot)
        self.position, self.synced_at, self._loaded = snapshot.position, now, True
        self._base = snapshot.position
        self.recent.clear()
        return snapshot

    async def poll(self) -> int:
        """Apply every event since the last position; return how many. Polls
        are serialized, so the position only moves forward."""
        async with self._polling:
            return await self._poll()

    async def _poll(self) -> int:
        if not self._loaded:
            await self.load()
            return 0
        applied = 0
        while True:
            now = self.clock.now()
            events = await self.store.revocation_changes(self.position, now, self.horizon)
            for event in events:
                self.view.apply(event)
                if len(self.recent) == self.recent.maxlen:
                    self._base = self.recent[0].position
                self.recent.append(event)
            if events:
                self.position = events[-1].position
            self.synced_at = now
            applied += len(events)
            if len(events) < 1000:
                break
        if applied:
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
        return applied

    async def run(self) -> None:
        """Follow until cancelled; store errors are logged and retried (the
        view grows stale meanwhile, which callers see through ``staleness``)."""
        store = self.store
        wait = store.wait_for_revocations if isinstance(store, WaitsForRevocations) else None
        failures = 0
        while True:
            try:
                await self.poll()
                failures = 0
                if wait is not None:
                    await wait(self.position, 1.0)
                else:
                    await asyncio.sleep(self.poll_interval)
            except StoreError as exc:
                failures += 1
                if failures == 1:
                    logger.warning("revocation feed: %s", log_value(exc.detail or exc.description))
                await asyncio.sleep(min(2.0, self.poll_interval * 2**failures))
            except Exception:  # a bug must not end the follower for good
                failures += 1
                logger.exception("revocation feed failed")
                await asyncio.sleep(min(2.0, self.poll_interval * 2**failures))

    async def wait_for_change(self, timeout: float, position: str | None = None) -> None:
        """Return when new events were applied, or after ``timeout``; at once
        if the follower is already past ``position`` (events applied while
        the caller was busy writing are not waited for again)."""
        if position is not None and position != self.position:
            return
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)

    def events_after(self, position: str | None) -> list[RevocationEvent] | None:
        """Recent events after ``position``, or ``None`` if it is older than
        what is kept (the caller then starts again from a snapshot)."""
        if position == self.position:
            return []
        if position == self._base:
            return list(self.recent)
        # From the newest back: a stream asks for what arrived since its last
        # wake, so this costs the events it gets, not the buffer. Searching
        # from the oldest cost every stream the whole buffer (10,000 events,
        # milliseconds) on every wake, and a few hundred streams fell behind
        # at ten revocations a second (bench/scale_followers.py).
        newer: list[RevocationEvent] = []
        for event in reversed(self.recent):  # no await: nothing appends meanwhile
            if event.position == position:
                newer.reverse()
                return newer
            newer.append(event)
        return None
