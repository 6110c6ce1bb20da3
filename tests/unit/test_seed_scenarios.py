"""The scenarios of the seed documents, each through the public API.

Time is moved with FrozenClock.advance; nothing sleeps.
"""

from __future__ import annotations

import pytest

from jwtwarden import (
    FrozenClock,
    InvalidGrantError,
    RefreshTokenReusedError,
    SessionRevokedError,
    TokenService,
    UserBannedError,
    UserCutoffError,
)
from jwtwarden.events import Event
from tests.conftest import ServiceFactory

PASSWORD = "correct horse battery"


@pytest.fixture(params=["memory", "sqlite"])
async def svc(request: pytest.FixtureRequest, make_service: ServiceFactory) -> TokenService:
    service = await make_service(request.param)
    await service.create_user("alice", PASSWORD)
    await service.create_user("bob", PASSWORD)
    return service


async def test_reuse_after_grace_revokes_the_session_and_its_child(
    svc: TokenService, clock: FrozenClock, events: list[Event]
) -> None:
    # Fauna / Auth0 seed: RT1 leaks, the client rotates to RT2, the thief
    # replays RT1 -> the whole family dies, RT2 included.
    other = await svc.login("alice", PASSWORD)
    rt1 = await svc.login("alice", PASSWORD, ip="10.0.0.1", user_agent="victim-browser")
    clock.advance(30)
    rt2 = await svc.refresh(rt1.refresh_token)
    clock.advance(svc.policy.refresh_grace + 1)

    with pytest.raises(RefreshTokenReusedError):
        await svc.refresh(rt1.refresh_token, ip="203.0.113.9", user_agent="thief")

    with pytest.raises(InvalidGrantError):
        await svc.refresh(rt2.refresh_token)
    with pytest.raises(SessionRevokedError):
        await svc.verify(rt2.access_token)
    # The user's other session is untouched.
    assert (await svc.verify(other.access_token)).sid == other.sid
    assert (await svc.refresh(other.refresh_token)).sid == other.sid
    reuse = [e for e in events if e.kind == "reuse_detected"]
    assert len(reuse) == 1
    assert (reuse[0].sub, reuse[0].sid, reuse[0].ip, reuse[0].user_agent) == (
        rt1.sub,
        rt1.sid,
        "203.0.113.9",
        "thief",
    )


async def test_reuse_with_user_scope_revokes_every_session(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    svc = await make_service("memory", reuse_revokes="user")
    await svc.create_user("alice", PASSWORD)
    await svc.create_user("bob", PASSWORD)
    other = await svc.login("alice", PASSWORD)
    bobs = await svc.login("bob", PASSWORD)
    rt1 = await svc.login("alice", PASSWORD)
    clock.advance(1)
    await svc.refresh(rt1.refresh_token)
    clock.advance(60)
    with pytest.raises(RefreshTokenReusedError):
        await svc.refresh(rt1.refresh_token)
    with pytest.raises(UserCutoffError):
        await svc.verify(other.access_token)
    with pytest.raises(InvalidGrantError):
        await svc.refresh(other.refresh_token)
    assert (await svc.verify(bobs.access_token)).sub == bobs.sub


async def test_parent_within_grace_returns_the_same_child_then_reuse_after(
    svc: TokenService, clock: FrozenClock
) -> None:
    pair = await svc.login("alice", PASSWORD)
    clock.advance(5)
    child = await svc.refresh(pair.refresh_token)
    clock.advance(svc.policy.refresh_grace / 2)
    again = await svc.refresh(pair.refresh_token)
    assert again.refresh_token == child.refresh_token
    assert again.access_token != child.access_token
    await svc.verify(child.access_token)  # nothing revoked
    clock.advance(svc.policy.refresh_grace)
    with pytest.raises(RefreshTokenReusedError):
        await svc.refresh(pair.refresh_token)
    with pytest.raises(SessionRevokedError):
        await svc.verify(again.access_token)


async def test_strict_mode_treats_any_second_presentation_as_reuse(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    svc = await make_service("memory", refresh_grace=0)
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    await svc.refresh(pair.refresh_token)
    with pytest.raises(RefreshTokenReusedError):
        await svc.refresh(pair.refresh_token)


async def test_forged_and_truncated_refresh_tokens_change_nothing(
    svc: TokenService, clock: FrozenClock
) -> None:
    pair = await svc.login("alice", PASSWORD)
    sid, gen, mac = pair.refresh_token.split(".")
    forged_mac = ("A" if mac[0] != "A" else "B") + mac[1:]
    attempts = [
        f"{sid}.{gen}.{forged_mac}",  # real sid, bad MAC, current generation
        f"{sid}.{int(gen) + 1}.{mac}",  # a future generation
        pair.refresh_token[:-1],  # truncated
        pair.refresh_token[: len(sid) + 2],
        pair.refresh_token + "A",
        "",
        "...",
        "x" * 10_000,
        pair.access_token,
    ]
    for attempt in attempts:
        with pytest.raises(InvalidGrantError) as info:
            await svc.refresh(attempt)
        assert not isinstance(info.value, RefreshTokenReusedError)
    # After a real rotation, an old-generation token with a bad MAC is still
    # not "reuse": knowing a sid never lets anyone revoke the session.
    clock.advance(1)
    child = await svc.refresh(pair.refresh_token)
    clock.advance(60)
    with pytest.raises(InvalidGrantError) as info:
        await svc.refresh(f"{sid}.0.{forged_mac}")
    assert not isinstance(info.value, RefreshTokenReusedError)
    await svc.verify(child.access_token)
    assert (await svc.refresh(child.refresh_token)).sid == pair.sid


async def test_ban_of_a_user_with_a_thousand_tokens_is_one_write(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    # Seed 002: 1,000 tokens at t=0, banned t=2..5, new tokens at t=8, ten of
    # them revoked singly -> the denylist holds exactly those ten.
    svc = await make_service("sqlite", access_ttl=300)
    user = await svc.create_user("alice", PASSWORD)
    t0 = clock.now()
    old = [await svc.login("alice", PASSWORD) for _ in range(1000)]

    clock.set(t0 + 2)
    writes = _count_writes(svc)
    await svc.ban(user.sub, until=t0 + 5)
    assert writes == {"set_ban": 1}

    clock.set(t0 + 3)
    for pair in old[::37]:
        with pytest.raises(UserBannedError):
            await svc.verify(pair.access_token)
        with pytest.raises(InvalidGrantError):
            await svc.refresh(pair.refresh_token)
    with pytest.raises(InvalidGrantError):
        await svc.login("alice", PASSWORD)

    clock.set(t0 + 6)  # the ban is over; what it killed stays dead
    for pair in old[::37]:
        with pytest.raises(UserCutoffError):
            await svc.verify(pair.access_token)
        with pytest.raises(InvalidGrantError):
            await svc.refresh(pair.refresh_token)

    clock.set(t0 + 8)
    new = [await svc.login("alice", PASSWORD) for _ in range(20)]
    for pair in new:
        await svc.verify(pair.access_token)
    for pair in new[:10]:
        assert await svc.revoke_access_token(pair.access_token)
    snapshot = await svc.revocation_snapshot()
    denied = {(await svc.decode(p.access_token)).jti for p in new[:10]}
    assert set(snapshot.denied) == denied
    for pair in new[10:]:
        await svc.verify(pair.access_token)

    clock.set(t0 + 8 + svc.policy.access_ttl + 1)  # their tokens have expired
    assert (await svc.revocation_snapshot()).denied == {}
    await svc.purge()
    assert await _denylist_rows(svc) == 0


async def test_refresh_chain_never_outlives_the_session(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    svc = await make_service("memory", session_ttl=3600, idle_ttl=3600, access_ttl=300)
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    login_time = clock.now()
    for _ in range(11):  # 11 x 299 s = 3289 s
        clock.advance(299)
        pair = await svc.refresh(pair.refresh_token)
        claims = await svc.decode(pair.access_token)
        assert claims.auth_time == login_time
        assert claims.exp <= login_time + 3600
    clock.advance(299)  # t = 3588: the access token is capped at the session end
    pair = await svc.refresh(pair.refresh_token)
    assert (await svc.decode(pair.access_token)).exp <= login_time + 3600
    clock.set(login_time + 3600)
    with pytest.raises(InvalidGrantError):
        await svc.refresh(pair.refresh_token)


async def test_idle_session_ends(make_service: ServiceFactory, clock: FrozenClock) -> None:
    svc = await make_service("memory", idle_ttl=600)
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    clock.advance(599)
    pair = await svc.refresh(pair.refresh_token)
    clock.advance(600)
    with pytest.raises(InvalidGrantError):
        await svc.refresh(pair.refresh_token)


async def test_role_change_logs_the_user_out(svc: TokenService, clock: FrozenClock) -> None:
    user = await svc.find_user("alice")
    pair = await svc.login("alice", PASSWORD)
    clock.advance(1)
    await svc.set_roles(user.sub, ["admin"])
    with pytest.raises(UserCutoffError):
        await svc.verify(pair.access_token)
    with pytest.raises(InvalidGrantError):
        await svc.refresh(pair.refresh_token)
    clock.advance(0.000001)
    fresh = await svc.login("alice", PASSWORD)
    assert (await svc.verify(fresh.access_token)).roles == ("admin",)


async def test_password_change_ends_every_other_session(
    svc: TokenService, clock: FrozenClock
) -> None:
    user = await svc.find_user("alice")
    current = await svc.login("alice", PASSWORD)
    other = await svc.login("alice", PASSWORD)
    clock.advance(1)
    await svc.change_password(user.sub, PASSWORD, "a new passphrase", keep_sid=current.sid)
    with pytest.raises(UserCutoffError):
        await svc.verify(other.access_token)
    with pytest.raises(InvalidGrantError):
        await svc.refresh(other.refresh_token)
    await svc.verify(current.access_token)
    clock.advance(1)
    refreshed = await svc.refresh(current.refresh_token)
    await svc.verify(refreshed.access_token)
    with pytest.raises(InvalidGrantError):
        await svc.login("alice", PASSWORD)
    await svc.login("alice", "a new passphrase")


async def test_logout_rejects_the_access_token_at_once_and_forgets_it_later(
    svc: TokenService, clock: FrozenClock
) -> None:
    pair = await svc.login("alice", PASSWORD)
    claims = await svc.verify(pair.access_token)
    assert await svc.logout(claims)
    with pytest.raises(SessionRevokedError):
        await svc.verify(pair.access_token)
    with pytest.raises(InvalidGrantError):
        await svc.refresh(pair.refresh_token)
    snapshot = await svc.revocation_snapshot()
    assert pair.sid in snapshot.sessions
    clock.advance(svc.policy.access_ttl + 1)
    snapshot = await svc.revocation_snapshot()
    assert len(snapshot) == 0
    await svc.purge()
    assert await svc.store.get_session(pair.sid) is None


async def test_cutoff_is_exact_to_the_microsecond(svc: TokenService, clock: FrozenClock) -> None:
    user = await svc.find_user("alice")
    before = await svc.login("alice", PASSWORD)
    clock.advance(0.000001)
    await svc.revoke_user(user.sub)
    clock.advance(0.000001)
    after = await svc.login("alice", PASSWORD)
    with pytest.raises(UserCutoffError):
        await svc.verify(before.access_token)
    await svc.verify(after.access_token)
    # A session that began before the cutoff cannot be refreshed after it.
    with pytest.raises(InvalidGrantError):
        await svc.refresh(before.refresh_token)
    await svc.refresh(after.refresh_token)


async def test_logout_all_keeping_the_current_session(
    svc: TokenService, clock: FrozenClock
) -> None:
    user = await svc.find_user("alice")
    keep = await svc.login("alice", PASSWORD)
    gone = [await svc.login("alice", PASSWORD) for _ in range(3)]
    clock.advance(1)
    await svc.logout_all(user.sub, keep_sid=keep.sid)
    for pair in gone:
        with pytest.raises(UserCutoffError):
            await svc.verify(pair.access_token)
    await svc.verify(keep.access_token)
    assert [s.sid for s in await svc.list_sessions(user.sub)] == [keep.sid]


async def test_hydra_token_generations(svc: TokenService, clock: FrozenClock) -> None:
    # Four generations, each refreshed twice within the grace window; reusing
    # any old generation after the window makes the whole chain inactive.
    chain = [await svc.login("alice", PASSWORD)]
    issued = [chain[0]]
    for _ in range(4):
        clock.advance(1)
        first = await svc.refresh(chain[-1].refresh_token)
        clock.advance(1)
        second = await svc.refresh(chain[-1].refresh_token)
        assert first.refresh_token == second.refresh_token
        chain.append(first)
        issued += [first, second]
    clock.advance(svc.policy.refresh_grace + 1)
    with pytest.raises(RefreshTokenReusedError):
        await svc.refresh(chain[1].refresh_token)
    for pair in issued:
        with pytest.raises(SessionRevokedError):
            await svc.verify(pair.access_token)
        with pytest.raises(InvalidGrantError):
            await svc.refresh(pair.refresh_token)


def _count_writes(svc: TokenService) -> dict[str, int]:
    """Wrap the store's write methods to count calls from here on."""
    counts: dict[str, int] = {}
    for name in (
        "set_ban",
        "set_cutoff",
        "deny_jti",
        "revoke_session",
        "set_roles",
        "set_password",
        "create_session",
        "rotate",
        "lift_ban",
    ):
        original = getattr(svc.store, name)

        async def counted(*args, _name=name, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            counts[_name] = counts.get(_name, 0) + 1
            return await _original(*args, **kwargs)

        setattr(svc.store, name, counted)
    return counts


async def _denylist_rows(svc: TokenService) -> int:
    conn = svc.store._conn  # type: ignore[attr-defined]
    return await svc.store._run(lambda: conn.execute("SELECT count(*) FROM denylist").fetchone()[0])  # type: ignore[attr-defined]
