"""Users the application authenticates itself (``start_session``), on every
store: no password in jwtwarden, the application's own ``sub``, and every
per-user rule (cutoff, ban, roles, logout-all, sessions, reuse detection,
events) exactly as for a user with a password. Custom claims survive
refreshes because the store keeps them with the session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from jwtwarden import FrozenClock, Policy, TokenService
from jwtwarden.errors import (
    InvalidCredentialsError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidTokenError,
    RefreshTokenReusedError,
)
from jwtwarden.events import Event
from jwtwarden.keysource import EphemeralKeySource, KeyManager
from jwtwarden.stores import Store
from tests.conftest import CHEAP_TEST_PASSWORDS
from tests.contract.test_store_contract import T, a_session, a_user

pytestmark = pytest.mark.store


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T)


@pytest.fixture
async def svc(store: Store, clock: FrozenClock, events: list[Event]) -> AsyncIterator[TokenService]:
    policy = Policy(refresh_grace=0)
    keys = KeyManager(EphemeralKeySource(), policy.algorithm, keep_retired_for=300.0)
    service = TokenService(
        store, keys, policy, passwords=CHEAP_TEST_PASSWORDS, clock=clock, on_event=events.append
    )
    await service.start()
    yield service


async def test_the_store_keeps_custom_claims_with_the_session(store: Store) -> None:
    user = replace(a_user("ext"), password_hash="")
    await store.create_user(user)
    session = a_session(user.sub, claims='{"tenant":"t1"}')
    await store.create_session(session)
    found = await store.get_session(session.sid)
    assert found is not None and found[0].claims == '{"tenant":"t1"}'
    assert found[1].password_hash == "" and not found[1].has_password
    rotated = await store.rotate(session.sid, 0, T + 1)
    assert rotated is not None and rotated.claims == '{"tenant":"t1"}'
    live = await store.rotate_if_live(session.sid, 1, T + 2, 1000.0)
    assert live is not None and live[0].claims == '{"tenant":"t1"}'
    plain = a_session(user.sub)
    await store.create_session(plain)
    kept = {s.sid: s.claims for s in await store.list_sessions(user.sub)}
    assert kept == {session.sid: '{"tenant":"t1"}', plain.sid: None}


async def test_a_session_for_the_apps_own_user_id_needs_no_password(svc: TokenService) -> None:
    pair = await svc.start_session("42", roles=["editor"], claims={"tenant": "acme"})
    claims = await svc.verify(pair.access_token)
    assert (claims.sub, claims.roles, claims.raw["tenant"]) == ("42", ("editor",), "acme")
    user = await svc.get_user("42")
    assert not user.has_password and user.username == "42"
    # No password can log the user in, not even an empty one.
    with pytest.raises(InvalidCredentialsError):
        await svc.login("42", "anything")
    again = await svc.start_session("42", roles=["editor"])
    assert again.sid != pair.sid
    assert "tenant" not in (await svc.verify(again.access_token)).raw  # claims are per session


async def test_custom_claims_survive_every_refresh(svc: TokenService, clock: FrozenClock) -> None:
    pair = await svc.start_session("u-1", claims={"tenant": "acme", "plan": ["pro", 3]})
    for _ in range(3):
        clock.advance(10)
        pair = await svc.refresh(pair.refresh_token)
    raw = (await svc.verify(pair.access_token)).raw
    assert (raw["tenant"], raw["plan"]) == ("acme", ["pro", 3])


async def test_subs_that_differ_only_in_case_are_two_users(svc: TokenService) -> None:
    upper = await svc.start_session("00uAB")
    lower = await svc.start_session("00uab")
    assert (upper.sub, lower.sub) == ("00uAB", "00uab")
    assert {s.sid for s in await svc.list_sessions("00uAB")} == {upper.sid}
    assert (await svc.get_user("00uAB")).username == "00u^a^b"


async def test_cutoff_and_logout_all(svc: TokenService, clock: FrozenClock) -> None:
    first = await svc.start_session("42")
    second = await svc.start_session("42")
    clock.advance(1)
    await svc.logout_all("42", keep_sid=second.sid)
    with pytest.raises(InvalidTokenError):
        await svc.verify(first.access_token)
    with pytest.raises(InvalidGrantError):
        await svc.refresh(first.refresh_token)
    await svc.verify(second.access_token)
    assert [s.sid for s in await svc.list_sessions("42")] == [second.sid]
    clock.advance(1)
    await svc.revoke_user("42")
    assert await svc.list_sessions("42") == []
    # A session started after the cutoff lives.
    clock.advance(1)
    await svc.verify((await svc.start_session("42")).access_token)


async def test_a_ban_refuses_new_sessions_and_kills_the_old(
    svc: TokenService, clock: FrozenClock, events: list[Event]
) -> None:
    pair = await svc.start_session("42")
    clock.advance(1)
    await svc.ban("42", T + 100)
    with pytest.raises(InvalidTokenError):
        await svc.verify(pair.access_token)
    with pytest.raises(InvalidGrantError):
        await svc.start_session("42", client_id="backend")
    assert events[-1].kind == "login_failed" and events[-1].detail["client_id"] == "backend"
    with pytest.raises(InvalidGrantError):
        await svc.refresh(pair.refresh_token)
    clock.advance(100)
    await svc.verify((await svc.start_session("42")).access_token)


async def test_roles_change_by_set_roles_or_by_the_next_session(
    svc: TokenService, clock: FrozenClock
) -> None:
    pair = await svc.start_session("42", roles=["user"])
    clock.advance(1)
    await svc.set_roles("42", ["user", "admin"])
    with pytest.raises(InvalidTokenError):
        await svc.verify(pair.access_token)
    clock.advance(1)
    admin = await svc.start_session("42", roles=["user", "admin"])
    assert (await svc.verify(admin.access_token)).roles == ("user", "admin")
    # The application says the roles changed: tokens with the old ones die,
    # the new session lives, though it starts in the very same instant.
    clock.advance(1)
    demoted = await svc.start_session("42", roles=["user"])
    with pytest.raises(InvalidTokenError):
        await svc.verify(admin.access_token)
    assert (await svc.verify(demoted.access_token)).roles == ("user",)


async def test_reuse_detection_revokes_the_session(svc: TokenService, clock: FrozenClock) -> None:
    pair = await svc.start_session("42")
    clock.advance(1)
    await svc.refresh(pair.refresh_token)
    clock.advance(1)
    with pytest.raises(RefreshTokenReusedError):
        await svc.refresh(pair.refresh_token)
    assert await svc.list_sessions("42") == []


async def test_events_name_the_user_and_the_client(svc: TokenService, events: list[Event]) -> None:
    pair = await svc.start_session("42", client_id="billing", ip="10.0.0.1", user_agent="cli")
    kinds = [(e.kind, e.sub) for e in events]
    assert ("user_created", "42") in kinds and ("login", "42") in kinds
    login = events[-1]
    assert login.sid == pair.sid and login.ip == "10.0.0.1"
    assert login.detail == {"method": "external", "client_id": "billing"}
    assert (await svc.get_session(pair.sid)).client_id == "billing"


async def test_a_password_account_cannot_be_taken_over(svc: TokenService) -> None:
    alice = await svc.create_user("alice", "correct horse")
    with pytest.raises(InvalidGrantError):
        await svc.start_session(alice.sub, roles=["admin"])
    with pytest.raises(InvalidGrantError):  # the username is a local account's
        await svc.start_session("alice")
    assert await svc.list_sessions(alice.sub) == []
    assert (await svc.get_user(alice.sub)).roles == ()


@pytest.mark.parametrize(
    ("sub", "kwargs"),
    [
        ("", {}),
        ("x" * 129, {}),
        ("a b", {}),
        ("42", {"roles": ["bad role"]}),
        ("42", {"claims": {"sub": "someone-else"}}),
        ("42", {"claims": {"jwtwarden_auth_time": 0}}),
        ("42", {"claims": {"big": "x" * 3000}}),
    ],
    ids=["empty", "long", "space", "role", "reserved", "private", "too-big"],
)
async def test_bad_input_creates_nothing(
    svc: TokenService, store: Store, sub: str, kwargs: dict[str, object]
) -> None:
    with pytest.raises(InvalidRequestError):
        await svc.start_session(sub, **kwargs)  # type: ignore[arg-type]
    assert await store.list_users() == []
