"""Every store agrees with the core rule it restates.

A store keeps some rules in SQL or Lua, for atomicity or for one round trip:
which sessions are purgeable, that the later cutoff wins, when a feed event
may be forgotten, when a refresh rotates (``test_rotate_if_live_agrees_with_
the_rotation_rule`` in the contract suite). Each copy names its core function;
these tests drive every store through generated states and compare what it
did with what the core function says.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from jwtwarden.core.revocation import NO_REVOCATION, UserRevocation, later_cutoff
from jwtwarden.core.sessions import is_purgeable
from jwtwarden.core.view import event_forget_at
from jwtwarden.stores import Store
from tests.contract.test_store_contract import IDLE, POLICY, H, T, a_session, a_user

pytestmark = pytest.mark.store

#: A user write: (method, cutoff_at or None, keep_sid, banned_until).
Write = tuple[str, float | None, str | None, float | None]

_WRITES: list[Write] = [
    *(("cutoff", at, keep, None) for at in (T - 5, T, T + 5) for keep in (None, "a")),
    *(("password", at, keep, None) for at in (None, T, T + 5) for keep in (None, "b")),
    *(("roles", at, None, None) for at in (T - 5, T + 5)),
    *(("ban", at, None, T + 99) for at in (T, T + 5)),
    ("lift", None, None, None),
]


async def _apply(store: Store, sub: str, write: Write) -> None:
    method, at, keep, until = write
    if method == "cutoff":
        assert at is not None and await store.set_cutoff(sub, at, keep)
    elif method == "password":
        assert await store.set_password(sub, "$argon2id$new", at, keep)
    elif method == "roles":
        assert at is not None and await store.set_roles(sub, ("r",), at)
    elif method == "ban":
        assert at is not None and until is not None and await store.set_ban(sub, until, at)
    else:
        assert await store.lift_ban(sub)


def _expected(revocation: UserRevocation, write: Write) -> UserRevocation:
    method, at, keep, until = write
    if method == "lift":
        return replace(revocation, banned_until=None)
    if at is not None:
        revocation = later_cutoff(revocation, at, keep)
    return replace(revocation, banned_until=until) if method == "ban" else revocation


async def test_user_writes_follow_later_cutoff(store: Store) -> None:
    """Two user writes in a row, every ordered pair: the stored revocation
    state is what ``core.revocation.later_cutoff`` makes of them."""
    for i, (first, second) in enumerate(itertools.product(_WRITES, repeat=2)):
        if i % 2:  # every other pair (half of 256) keeps the suite fast
            continue
        user = a_user(f"w{i}")
        await store.create_user(user)
        await _apply(store, user.sub, first)
        await _apply(store, user.sub, second)
        got = await store.get_user(user.sub)
        assert got is not None
        expected = _expected(_expected(NO_REVOCATION, first), second)
        assert got.revocation == expected, (first, second)


async def test_purge_removes_exactly_what_is_purgeable(store: Store) -> None:
    """Sessions in every combination of revoked, expired, idle and cut-off
    states, each under its own user, at the boundaries of each rule: a purge
    removes exactly those ``core.sessions.is_purgeable`` names."""
    now = T + 2000.0
    cases = itertools.product(
        (None, now - H, now - H + 1),  # revoked_at: at the horizon, just inside it
        (now, now + 1),  # expires_at
        (now - IDLE, now - IDLE + 1),  # last_used_at
        (None, "covers", "equal", "spares"),  # the user's cutoff against auth_time
    )
    expected: dict[str, bool] = {}
    for i, (revoked, expires, last_used, cutoff) in enumerate(cases):
        user = a_user(f"p{i}")
        await store.create_user(user)
        auth_time = last_used - 100
        session = a_session(
            user.sub, auth_time=auth_time, expires_at=expires, last_used_at=last_used
        )
        await store.create_session(session)
        if revoked is not None:
            await store.revoke_session(session.sid, revoked, "test")
        if cutoff == "covers":
            await store.set_cutoff(user.sub, auth_time + 1, None)
        elif cutoff == "equal":  # strictly before the cutoff dies; equal lives
            await store.set_cutoff(user.sub, auth_time, None)
        elif cutoff == "spares":
            await store.set_cutoff(user.sub, auth_time + 1, session.sid)
        found = await store.get_session(session.sid)
        assert found is not None
        stored, owner = found
        expected[stored.sid] = is_purgeable(stored, owner.revocation, now=now, policy=POLICY)
    assert any(expected.values()) and not all(expected.values())
    await store.purge_expired(now, POLICY)
    for sid, purgeable in expected.items():
        assert (await store.get_session(sid) is None) == purgeable, sid


async def test_the_feed_forgets_events_at_event_forget_at(store: Store) -> None:
    """Events of every kind, read at instants around their ends: the feed
    returns exactly those ``core.view.event_forget_at`` keeps, with that
    ``forget_at``; a purge then deletes exactly the rest."""
    user = a_user()
    await store.create_user(user)
    made: list[tuple[str, str, float, float | None]] = []  # kind, key, at, forget_at
    for i, forget_at in enumerate((T + 50, T + 400, T + 900)):
        await store.deny_jti(f"j{i}", forget_at)
        made.append(("jti", f"j{i}", forget_at, forget_at))
    for revoked_at in (T + 100, T + 300):
        session = a_session(user.sub)
        await store.create_session(session)
        await store.revoke_session(session.sid, revoked_at, "test")
        made.append(("sid", session.sid, revoked_at, None))
    await store.set_cutoff(user.sub, T + 200, None)
    made.append(("user", user.sub, T + 200, None))

    ends = sorted({event_forget_at(kind, at, fa, H) for kind, _, at, fa in made})
    for now in [T, *ends, *(end - 1 for end in ends)]:
        got = {(e.kind, e.key): e.forget_at for e in await store.revocation_changes(None, now, H)}
        want = {
            (kind, key): event_forget_at(kind, at, fa, H)
            for kind, key, at, fa in made
            if event_forget_at(kind, at, fa, H) > now
        }
        assert got == want, now

    purge_at = ends[2]
    await store.purge_expired(purge_at, POLICY)
    kept = {(e.kind, e.key) for e in await store.revocation_changes(None, T, H)}
    assert kept == {
        (kind, key) for kind, key, at, fa in made if event_forget_at(kind, at, fa, H) > purge_at
    }
