"""Four processes × 50 concurrent ``deny_jti`` on one store URL while a
follower reads the revocation feed from its last position: the follower
must end with all 200 events, their positions only ever increasing. A store
whose events became visible out of position order would make the follower
resume past an event that committed late, and never see it."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from jwtwarden.stores import open_store
from jwtwarden.stores.base import WaitsForRevocations

PROCESSES, DENIALS = 4, 50
FORGET_AT = 4_000_000_000.0  # far ahead of the wall clock the Redis store checks
NOW, HORIZON = 1_800_000_000.0, 300.0


def _worker(url: str, n: int, barrier: Any) -> None:
    async def main() -> None:
        store = open_store(url)
        await store.ping()  # connect before the barrier, so the writes race
        barrier.wait()
        await asyncio.gather(*(store.deny_jti(f"p{n}-{i}", FORGET_AT) for i in range(DENIALS)))
        await store.close()

    asyncio.run(main())


async def a_follower_misses_nothing(
    url: str, order: Callable[[str], Any], wait: bool = False
) -> None:
    """Run the race; ``order`` maps a position to something comparable.
    With ``wait`` the follower blocks in ``wait_for_revocations`` between
    reads instead of polling."""
    store = open_store(url)
    position = (await store.revocation_snapshot(NOW, HORIZON)).position
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    target: Callable[..., None] = _worker
    procs = [ctx.Process(target=target, args=(url, n, barrier)) for n in range(PROCESSES)]
    for p in procs:
        p.start()
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        writing = any(p.is_alive() for p in procs)  # before the read: then one more pass
        events = await store.revocation_changes(position, NOW, HORIZON, limit=7)
        for event in events:
            assert position is None or order(event.position) > order(position)
            position = event.position
            seen.append(event.key)
        if not events and not writing:
            break  # every write has returned, and the feed after us is empty
        if not events:
            if wait:
                assert isinstance(store, WaitsForRevocations)
                await store.wait_for_revocations(position, 1.0)
            else:
                await asyncio.sleep(0.001)
    for p in procs:
        await asyncio.to_thread(p.join, 30)
        assert p.exitcode == 0
    await store.close()
    assert sorted(seen) == sorted(f"p{n}-{i}" for n in range(PROCESSES) for i in range(DENIALS))
