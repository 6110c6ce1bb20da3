"""RevocationFollower: a store's feed into a local view."""

from __future__ import annotations

import asyncio

from jwtwarden import FrozenClock, RevocationView, TokenService
from jwtwarden.core.revocation import Cause
from jwtwarden.core.view import RevocationEvent, RevocationSnapshot
from jwtwarden.server.follower import RevocationFollower
from tests.conftest import ServiceFactory

PASSWORD = "correct horse battery"


async def test_follower_loads_a_snapshot_then_applies_changes(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    svc: TokenService = await make_service("sqlite")
    await svc.create_user("alice", PASSWORD)
    before = await svc.login("alice", PASSWORD)
    await svc.revoke_access_token(before.access_token)
    follower = RevocationFollower(
        svc.store, RevocationView(), clock=clock, horizon=svc.policy.revocation_horizon
    )
    assert follower.staleness() == float("inf")
    await follower.poll()  # first poll loads the snapshot
    jti = (await svc.decode(before.access_token)).jti
    assert (
        follower.view.cause(sub=before.sub, sid=before.sid, jti=jti, auth_time=0, now=clock.now())
        is Cause.DENIED
    )
    start = follower.position
    after = await svc.login("alice", PASSWORD)
    await svc.revoke_session(after.sid)
    clock.advance(3)
    assert await follower.poll() == 1
    assert follower.staleness() == 0
    assert after.sid in follower.view.snapshot().sessions
    assert [e.key for e in follower.events_after(start) or []] == [after.sid]
    assert follower.events_after(follower.position) == []
    assert follower.events_after("999999") is None  # unknown: start from a snapshot
    clock.advance(7)
    assert follower.staleness() == 7


class _Position(str):
    """A feed position that counts how often it is compared."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        type(self).compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


class _FeedOf:
    """A store whose feed holds ``n`` events after an empty snapshot."""

    def __init__(self, n: int) -> None:
        self.events = [
            RevocationEvent(_Position(f"{i + 1}"), "jti", f"jti-{i}", 1.0) for i in range(n)
        ]

    async def revocation_snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        return RevocationSnapshot(position=_Position("0"))

    async def revocation_changes(
        self, after: str | None, now: float, horizon: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        start = int(after or 0)
        return self.events[start : start + limit]


async def test_a_stream_that_is_nearly_caught_up_costs_its_new_events_not_the_buffer(
    clock: FrozenClock,
) -> None:
    store = _FeedOf(10_000)
    follower = RevocationFollower(
        store,  # type: ignore[arg-type]
        RevocationView(),
        clock=clock,
        horizon=60,
    )
    await follower.poll()  # the snapshot
    assert await follower.poll() == 10_000
    _Position.compared = 0
    newest = follower.events_after("9997") or []
    assert [e.key for e in newest] == ["jti-9997", "jti-9998", "jti-9999"]
    # Searching from the oldest compared ~10,000 positions per stream per
    # wake, and 500 streams fell behind at ten revocations a second.
    assert _Position.compared < 10
    assert [e.key for e in follower.events_after("1") or []][:2] == ["jti-1", "jti-2"]
    assert len(follower.events_after("1") or []) == 9_999
    assert follower.events_after("0") is not None  # the snapshot's position: everything
    assert follower.events_after("10001") is None  # unknown: start from a snapshot


async def test_streams_cancelled_while_waiting_do_not_stall_the_feed(clock: FrozenClock) -> None:
    # A client that hangs up cancels its stream, and anyio (Starlette's
    # StreamingResponse) repeats the cancel on every loop turn until the task
    # ends. With a Condition under wait_for, a repeated cancel could leave its
    # lock held: the next poll then waited for it for ever and every stream
    # and the server's own view stopped hearing of revocations.
    store = _FeedOf(3)
    store.events, later = store.events[:1], store.events[1:]
    follower = RevocationFollower(
        store,  # type: ignore[arg-type]
        RevocationView(),
        clock=clock,
        horizon=60,
    )
    await follower.poll()
    await follower.poll()
    waiting = [asyncio.create_task(follower.wait_for_change(60)) for _ in range(50)]
    await asyncio.sleep(0)
    store.events += later[:1]
    polled = asyncio.create_task(follower.poll())  # wakes the waiters...
    await asyncio.sleep(0)
    for _ in range(20):  # ...as their clients hang up, again and again
        for task in waiting:
            task.cancel()
        await asyncio.sleep(0)
    await asyncio.gather(*waiting, return_exceptions=True)
    assert await asyncio.wait_for(polled, 5) == 1
    store.events += later[1:]
    assert await asyncio.wait_for(follower.poll(), 5) == 1  # the feed still moves
    assert [e.key for e in follower.events_after("1") or []] == ["jti-1", "jti-2"]


async def test_a_stream_busy_when_events_arrive_does_not_wait_for_the_next_ones(
    clock: FrozenClock,
) -> None:
    store = _FeedOf(2)
    store.events, later = store.events[:1], store.events[1:]
    follower = RevocationFollower(
        store,  # type: ignore[arg-type]
        RevocationView(),
        clock=clock,
        horizon=60,
    )
    await follower.poll()
    await follower.poll()
    delivered = follower.position  # a stream sent up to here, then wrote for a while
    store.events += later
    await follower.poll()  # meanwhile: nobody was waiting to be told
    # Returns at once, not after the heartbeat timeout (60 s here).
    await asyncio.wait_for(follower.wait_for_change(60, delivered), 5)
