"""RevocationFollower: a store's feed into a local view."""

from __future__ import annotations

from jwtwarden import FrozenClock, RevocationView, TokenService
from jwtwarden.core.revocation import Cause
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
