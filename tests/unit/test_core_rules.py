"""The named core rules agree with the rules they are derived from."""

from __future__ import annotations

import itertools

from jwtwarden.core.policy import Policy
from jwtwarden.core.revocation import UserRevocation, later_cutoff
from jwtwarden.core.rotation import Rotated, decide_rotation, rotates_now
from jwtwarden.core.sessions import Session, is_purgeable
from jwtwarden.core.view import event_forget_at

T = 1_800_000_000.0
IDLE = 100.0
POLICY = Policy(idle_ttl=IDLE, access_ttl=300.0)


def _states() -> itertools.product[tuple[object, ...]]:
    now = T + 1000
    return itertools.product(
        (1, 2, 3),  # presented generation (current is 2)
        (None, T + 500),  # revoked_at
        (now + 50, now, now - 1),  # expires_at
        (now - IDLE + 0.5, now - IDLE, now - IDLE - 0.5),  # last_used_at
        (None, now + 10, now),  # banned_until
        (None, T + 10, T, T - 10),  # cutoff_at (auth_time is T)
        (False, True),  # the cutoff spares this session
        (None, now - 5, now - 50),  # rotated_at (grace is 10 s)
    )


def _build(state: tuple[object, ...]) -> tuple[int, Session, UserRevocation]:
    presented, revoked, expires, last_used, banned, cutoff, kept, rotated = state
    session = Session(
        "sid",
        "sub",
        2,
        b"s" * 16,
        T,
        expires,
        last_used,
        rotated,
        revoked,  # type: ignore[arg-type]
    )
    user = UserRevocation(cutoff, "sid" if kept else None, banned)  # type: ignore[arg-type]
    return presented, session, user  # type: ignore[return-value]


def test_rotates_now_is_exactly_when_decide_rotation_rotates() -> None:
    now = T + 1000
    rotated = 0
    for state in _states():
        presented, session, user = _build(state)
        decision = decide_rotation(session, user, presented, genuine=True, now=now, policy=POLICY)
        fast = rotates_now(session, user, presented, now=now, idle_ttl=IDLE)
        assert fast == isinstance(decision, Rotated), (state, decision)
        rotated += fast
    assert rotated > 0


def test_an_unrevoked_session_is_purgeable_exactly_when_it_is_no_longer_live() -> None:
    now = T + 1000
    for state in _states():
        _, session, user = _build(state)
        purgeable = is_purgeable(session, user, now=now, policy=POLICY)
        if session.revoked_at is None:
            assert purgeable == (not session.is_live(now, POLICY, user)), state
            assert is_purgeable(session, None, now=now, policy=POLICY)  # its user is gone
        else:  # kept one horizon for the feed, whatever else holds
            assert purgeable == (session.revoked_at + POLICY.revocation_horizon <= now)


def test_a_later_cutoff_wins_in_either_order() -> None:
    for (a, ka), (b, kb) in itertools.product(
        itertools.product((T - 1, T, T + 1), (None, "x")), repeat=2
    ):
        one = later_cutoff(later_cutoff(UserRevocation(), a, ka), b, kb)
        assert one.cutoff_at == max(a, b)
        if a != b:
            other = later_cutoff(later_cutoff(UserRevocation(), b, kb), a, ka)
            assert one == other
            assert one.keep_sid == (ka if a > b else kb)
    banned = UserRevocation(T + 5, "k", T + 100)
    assert later_cutoff(banned, T, None) is banned  # an earlier cutoff changes nothing
    assert later_cutoff(banned, T + 6, None) == UserRevocation(T + 6, None, T + 100)


def test_an_event_is_forgotten_at_its_own_end_or_one_horizon_after_it() -> None:
    assert event_forget_at("jti", T + 7, T + 7, 300.0) == T + 7
    for kind in ("sid", "user", "store"):
        assert event_forget_at(kind, T, None, 300.0) == T + 300.0
