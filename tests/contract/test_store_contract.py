"""One Store contract, run against every backend (the ``store`` fixture).

A backend is done when this whole suite passes, the compare-and-swap races
included. Backends that need a server skip when it is unreachable, and fail
instead under CI=true (see ``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace

import pytest

from jwtwarden.core.clients import Client
from jwtwarden.core.policy import Policy
from jwtwarden.core.revocation import UserRevocation
from jwtwarden.core.sessions import Session
from jwtwarden.core.users import User
from jwtwarden.errors import StoreConflictError
from jwtwarden.stores import Store

pytestmark = pytest.mark.store

T = 1_800_000_000.0
H = 300.0  # revocation horizon
IDLE = 1000.0
POLICY = Policy(access_ttl=H, idle_ttl=IDLE, login_window=600.0)


def a_user(name: str = "alice", **kw: object) -> User:
    return User(
        sub=secrets.token_hex(8),
        username=name,
        password_hash="$argon2id$x",
        roles=("user",),
        created_at=T,
        **kw,
    )  # type: ignore[arg-type]


def a_session(sub: str, **kw: object) -> Session:
    fields: dict[str, object] = dict(
        sid=secrets.token_urlsafe(16),
        sub=sub,
        generation=0,
        salt=secrets.token_bytes(16),
        auth_time=T,
        expires_at=T + 5000,
        last_used_at=T,
        ip="127.0.0.1",
        user_agent="ua",
    )
    fields.update(kw)
    return Session(**fields)  # type: ignore[arg-type]


async def test_ping(store: Store) -> None:
    await store.ping()


async def test_users_round_trip_and_usernames_are_unique_when_normalized(store: Store) -> None:
    user = a_user("Alice")
    await store.create_user(user)
    assert await store.get_user(user.sub) == user
    assert await store.find_user("alice") == user
    assert await store.find_user("ＡＬＩＣＥ") == user  # full-width, NFKC-folded
    assert await store.find_user("bob") is None
    assert await store.get_user("nobody") is None
    with pytest.raises(StoreConflictError):
        await store.create_user(a_user("ALICE"))
    other = a_user("bob")
    await store.create_user(other)
    assert [u.sub for u in await store.list_users()] == [user.sub, other.sub]


async def test_password_and_roles_updates(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    assert await store.set_password(user.sub, "$argon2id$new", None, None)
    got = await store.get_user(user.sub)
    assert got is not None and got.password_hash == "$argon2id$new"
    assert got.revocation == UserRevocation()
    assert await store.set_password(user.sub, "$argon2id$3", T + 5, "keep")
    got = await store.get_user(user.sub)
    assert got is not None and got.revocation == UserRevocation(T + 5, "keep")
    assert await store.set_roles(user.sub, ("admin", "ops"), T + 6)
    got = await store.get_user(user.sub)
    assert got is not None and got.roles == ("admin", "ops")
    assert got.revocation == UserRevocation(T + 6, None)
    assert not await store.set_roles("nobody", (), T)
    assert not await store.set_password("nobody", "x", None, None)


async def test_cutoff_only_moves_forward(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    assert await store.set_cutoff(user.sub, T + 10, "a")
    assert await store.set_cutoff(user.sub, T + 5, "b")  # an older racing cutoff loses
    got = await store.get_user(user.sub)
    assert got is not None and got.revocation == UserRevocation(T + 10, "a")
    assert await store.set_cutoff(user.sub, T + 20, None)
    got = await store.get_user(user.sub)
    assert got is not None and got.revocation == UserRevocation(T + 20, None)
    assert not await store.set_cutoff("nobody", T, None)


async def test_ban_and_lift(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    assert await store.set_ban(user.sub, T + 100, T + 1)
    got = await store.get_user(user.sub)
    assert got is not None and got.revocation == UserRevocation(T + 1, None, T + 100)
    assert await store.lift_ban(user.sub)
    got = await store.get_user(user.sub)
    assert got is not None and got.revocation == UserRevocation(T + 1, None, None)
    assert not await store.set_ban("nobody", T, T)
    assert not await store.lift_ban("nobody")


async def test_sessions_round_trip_with_their_user(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    assert await store.get_session(session.sid) == (session, user)
    assert await store.get_session("missing") is None
    with pytest.raises(StoreConflictError):
        await store.create_session(session)
    second = a_session(user.sub, auth_time=T + 1)
    await store.create_session(second)
    assert [s.sid for s in await store.list_sessions(user.sub)] == [session.sid, second.sid]
    assert await store.list_sessions("nobody") == []


async def test_rotate_is_a_compare_and_swap(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    rotated = await store.rotate(session.sid, 0, T + 1)
    assert rotated == replace(session, generation=1, rotated_at=T + 1, last_used_at=T + 1)
    assert await store.rotate(session.sid, 0, T + 2) is None  # stale generation
    assert await store.rotate("missing", 0, T + 2) is None
    found = await store.get_session(session.sid)
    assert found is not None and found[0].generation == 1


async def test_fifty_racing_rotations_make_exactly_one(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    results = await asyncio.gather(*(store.rotate(session.sid, 0, T + 1) for _ in range(50)))
    assert sum(r is not None for r in results) == 1
    found = await store.get_session(session.sid)
    assert found is not None and found[0].generation == 1


async def test_a_revoked_session_cannot_rotate_and_revokes_once(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    revoked = await store.revoke_session(session.sid, T + 3, "reuse")
    assert revoked == replace(session, revoked_at=T + 3, revoke_reason="reuse")
    assert await store.revoke_session(session.sid, T + 4, "again") is None
    assert await store.revoke_session("missing", T + 4, "x") is None
    assert await store.rotate(session.sid, 0, T + 5) is None
    found = await store.get_session(session.sid)
    assert found is not None and found[0].revoked_at == T + 3


async def test_revocation_facts(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    facts = await store.revocation_facts(user.sub, session.sid, "j1", T)
    assert (facts.jti_denied, facts.session_revoked, facts.user) == (False, False, UserRevocation())
    await store.deny_jti("j1", T + 10)
    await store.revoke_session(session.sid, T, "logout")
    await store.set_ban(user.sub, T + 50, T)
    facts = await store.revocation_facts(user.sub, session.sid, "j1", T + 1)
    assert (facts.jti_denied, facts.session_revoked) == (True, True)
    assert facts.user == UserRevocation(T, None, T + 50)
    facts = await store.revocation_facts(user.sub, session.sid, "j1", T + 10)
    assert facts.jti_denied is False  # expired entries never count
    facts = await store.revocation_facts("nobody", "none", "none", T)
    assert facts.user == UserRevocation()


async def test_deny_jti_keeps_the_later_expiry(store: Store) -> None:
    await store.deny_jti("j", T + 50)
    await store.deny_jti("j", T + 10)
    assert (await store.revocation_snapshot(T, H)).denied == {"j": T + 50}


async def test_snapshot_holds_only_what_can_still_matter(store: Store) -> None:
    user, other = a_user("a"), a_user("b")
    for u in (user, other):
        await store.create_user(u)
    recent, old = a_session(user.sub), a_session(user.sub)
    for s in (recent, old):
        await store.create_session(s)
    await store.revoke_session(old.sid, T, "logout")
    await store.revoke_session(recent.sid, T + 200, "logout")
    await store.deny_jti("live", T + 400)
    await store.deny_jti("dead", T + 100)
    await store.set_cutoff(user.sub, T + 250, "k")
    await store.set_ban(other.sub, T + 9999, T + 50)
    snap = await store.revocation_snapshot(T + 320, H)
    assert snap.denied == {"live": T + 400}
    assert snap.sessions == {recent.sid: T + 200 + H}
    assert snap.users == {
        user.sub: (UserRevocation(T + 250, "k"), T + 250 + H),
        other.sub: (UserRevocation(T + 50, None, T + 9999), T + 50 + H),
    }
    # Past the horizon the ban's cutoff no longer matters to access tokens
    # (none from before it can still be alive); the ban itself stays in the
    # user record and keeps refusing logins.
    assert set((await store.revocation_snapshot(T + 351, H)).users) == {user.sub}
    assert len(await store.revocation_snapshot(T + 10_000, H)) == 0


async def test_purge_deletes_dead_state_and_keeps_the_living(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    live = a_session(user.sub, auth_time=T + 20, last_used_at=T + 900)
    expired = a_session(user.sub, expires_at=T + 100, last_used_at=T + 90)
    idle = a_session(user.sub, last_used_at=T)
    revoked_long_ago = a_session(user.sub, last_used_at=T + 900)
    revoked_recently = a_session(user.sub, last_used_at=T + 900)
    cut_off = a_session(user.sub, auth_time=T + 1, last_used_at=T + 900)
    kept = a_session(user.sub, auth_time=T + 1, last_used_at=T + 900)
    for s in (live, expired, idle, revoked_long_ago, revoked_recently, cut_off, kept):
        await store.create_session(s)
    await store.revoke_session(revoked_long_ago.sid, T + 100, "logout")
    await store.revoke_session(revoked_recently.sid, T + 1000, "logout")
    await store.set_cutoff(user.sub, T + 10, kept.sid)
    await store.deny_jti("old", T + 500)
    await store.deny_jti("new", T + 5000)

    purged = await store.purge_expired(T + 1100, POLICY)
    assert purged >= 5  # 4 sessions and a denylist entry, plus the feed events they left
    remaining = {s.sid for s in await store.list_sessions(user.sub)}
    assert remaining == {live.sid, revoked_recently.sid, kept.sid}
    assert (await store.revocation_snapshot(T + 1100, H)).denied == {"new": T + 5000}
    assert await store.purge_expired(T + 1100, POLICY) == 0


async def test_purge_is_batched_beyond_one_batch(store: Store) -> None:
    for i in range(2500):
        await store.deny_jti(f"j{i}", T + 1)
    assert await store.purge_expired(T + 2, POLICY) >= 2500  # entries and their feed events
    assert len(await store.revocation_snapshot(T, H)) == 0


async def test_keyring_blob_is_a_compare_and_swap(store: Store) -> None:
    assert await store.load_keyring() is None
    assert await store.save_keyring(b"one", None)
    assert not await store.save_keyring(b"two", None)
    assert not await store.save_keyring(b"two", b"stale")
    assert await store.save_keyring(b"two", b"one")
    assert await store.load_keyring() == b"two"


async def test_login_failures_slide_with_the_window(store: Store) -> None:
    keys = ["k-user-ip", "k-ip"]
    assert await store.login_failures(keys, T) == [(0, None), (0, None)]
    for at in (T, T + 10, T + 20):
        await store.record_login_failure(keys, at, at - 600)
    await store.record_login_failure(["k-ip"], T + 30, T + 30 - 600)
    assert await store.login_failures(keys, T - 600) == [(3, T), (4, T)]
    assert await store.login_failures(keys, T + 5) == [(2, T + 10), (3, T + 10)]
    await store.clear_login_failures("k-user-ip")
    assert await store.login_failures(keys, T - 600) == [(0, None), (4, T)]
    assert await store.purge_expired(T + 625, POLICY) == 3  # T, T+10, T+20 left the window
    assert await store.login_failures(["k-ip"], 0) == [(1, T + 30)]


async def test_clients(store: Store) -> None:
    client = Client("rs_1", "orders-api", "ab" * 32, T)
    await store.create_client(client)
    assert await store.get_client("rs_1") == client
    assert await store.get_client("rs_2") is None
    with pytest.raises(StoreConflictError):
        await store.create_client(Client("rs_2", "orders-api", "cd" * 32, T))
    with pytest.raises(StoreConflictError):
        await store.create_client(Client("rs_1", "other", "cd" * 32, T))


async def test_clients_that_start_sessions_keep_their_roles_and_keys(store: Store) -> None:
    jwks = '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc","kid":"k1","alg":"EdDSA"}]}'
    with_keys = Client("rs_3", "billing", "ab" * 32, T, True, ("user", "staff"), jwks)
    with_secret = Client("rs_4", "portal", "ab" * 32, T, True, ())
    for client in (with_keys, with_secret):
        await store.create_client(client)
        assert await store.get_client(client.client_id) == client


async def test_the_feed_carries_every_revocation_in_order(store: Store) -> None:
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    start = (await store.revocation_snapshot(T, H)).position
    await store.deny_jti("j1", T + 100)
    await store.revoke_session(session.sid, T + 1, "logout")
    await store.revoke_session(session.sid, T + 2, "again")  # no change, no event
    await store.set_cutoff(user.sub, T + 3, "keep")
    await store.set_ban(user.sub, T + 50, T + 4)
    await store.lift_ban(user.sub)
    await store.set_password(user.sub, "$argon2id$y", None, None)  # no revocation, no event
    events = await store.revocation_changes(start, T + 5, H)
    assert [(e.kind, e.key) for e in events] == [
        ("jti", "j1"),
        ("sid", session.sid),
        ("user", user.sub),
        ("user", user.sub),
        ("user", user.sub),
    ]
    assert events[0].forget_at == T + 100
    assert events[1].forget_at == T + 1 + H
    assert events[2].user == UserRevocation(T + 3, "keep") and events[2].forget_at == T + 3 + H
    assert events[3].user == UserRevocation(T + 4, None, T + 50)
    assert events[4].user == UserRevocation(T + 4, None, None)
    positions = [e.position for e in events]
    assert len(set(positions)) == 5
    # Resuming after any position yields exactly what came after it.
    assert await store.revocation_changes(positions[2], T + 5, H) == events[3:]
    assert await store.revocation_changes(positions[-1], T + 5, H) == []
    assert len(await store.revocation_changes(start, T + 5, H, limit=2)) == 2


async def test_a_snapshot_and_the_feed_after_it_miss_nothing(store: Store) -> None:
    from jwtwarden.core.view import RevocationView

    await store.deny_jti("before", T + 100)
    snapshot = await store.revocation_snapshot(T, H)
    await store.deny_jti("after", T + 100)
    view = RevocationView()
    view.load(snapshot)
    for event in await store.revocation_changes(snapshot.position, T, H):
        view.apply(event)
    assert set(view.snapshot().denied) == {"before", "after"}


async def test_the_feed_forgets_what_can_no_longer_matter(store: Store) -> None:
    await store.deny_jti("short", T + 10)
    await store.deny_jti("long", T + 1000)
    assert [e.key for e in await store.revocation_changes(None, T + 20, H)] == ["long"]
    await store.purge_expired(T + 20, POLICY)
    assert [e.key for e in await store.revocation_changes(None, T, H)] == ["long"]


async def test_a_run_of_dead_events_does_not_stall_the_feed(store: Store) -> None:
    for i in range(30):
        await store.deny_jti(f"dead{i}", T + 1)
    await store.deny_jti("alive", T + 1000)
    events = await store.revocation_changes(None, T + 10, H, limit=10)
    assert [e.key for e in events] == ["alive"]


async def test_rotate_if_live_agrees_with_the_rotation_rule(store: Store) -> None:
    """The one-round-trip refresh rotates exactly when decide_rotation would
    rotate a genuine current token, and changes nothing otherwise."""
    import itertools

    from jwtwarden.core.rotation import Rotated, decide_rotation

    idle = 100.0
    policy = Policy(idle_ttl=idle, access_ttl=H)
    now = T + 1000
    cases = itertools.product(
        (0, 1),  # generation offset presented
        (None, T + 500),  # revoked_at
        (now + 50, now),  # expires_at
        (now - idle + 0.5, now - idle),  # last_used_at
        (None, now + 10, now),  # banned_until
        (None, T + 10, T, T - 10),  # cutoff_at (session auth_time is T)
        (False, True),  # cutoff spares this session
    )
    checked = rotated = 0
    for i, (offset, revoked, expires, last_used, banned, cutoff, kept) in enumerate(cases):
        if i % 3:  # a third of the 384 combinations keeps the suite fast
            continue
        user = a_user(f"u{i}")
        await store.create_user(user)
        session = a_session(
            user.sub, generation=2, expires_at=expires, last_used_at=last_used, rotated_at=T + 1
        )
        await store.create_session(session)
        if revoked is not None:
            await store.revoke_session(session.sid, revoked, "test")
        if cutoff is not None:
            await store.set_cutoff(user.sub, cutoff, session.sid if kept else None)
        if banned is not None:
            await store.set_ban(user.sub, banned, cutoff if cutoff is not None else T - 100)
        found = await store.get_session(session.sid)
        assert found is not None
        before, owner = found
        expected = decide_rotation(
            before, owner.revocation, 2 + offset, genuine=True, now=now, policy=policy
        )
        result = await store.rotate_if_live(session.sid, 2 + offset, now, idle)
        after = await store.get_session(session.sid)
        assert after is not None
        if isinstance(expected, Rotated):
            assert result is not None, (i, expected)
            assert result[0] == replace(before, generation=3, rotated_at=now, last_used_at=now)
            assert result[1].sub == user.sub and after[0] == result[0]
            rotated += 1
        else:
            assert result is None, (i, expected, before, owner.revocation)
            assert after[0] == before
        checked += 1
    assert checked == 128 and rotated > 0
    assert await store.rotate_if_live("missing", 0, now, idle) is None
