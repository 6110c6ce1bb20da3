"""TokenService behaviour beyond the seed scenarios."""

from __future__ import annotations

import logging

import pytest

from jwtwarden import (
    FrozenClock,
    InvalidCredentialsError,
    InvalidGrantError,
    InvalidRequestError,
    NotFoundError,
    RevocationView,
    SessionRevokedError,
    StoreConflictError,
    TokenDeniedError,
    TokenService,
    UserCutoffError,
    Verifier,
)
from jwtwarden.events import Event
from jwtwarden.passwords import Passwords
from tests.conftest import ServiceFactory

PASSWORD = "correct horse battery"


async def test_unknown_user_and_wrong_password_answer_alike_at_the_same_cost(
    service: TokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.create_user("alice", PASSWORD)
    calls: list[str] = []
    hasher_class = type(service.passwords._hasher)
    original = hasher_class.verify

    def spy(self: object, h: str, p: str) -> bool:
        calls.append(h)
        return original(self, h, p)  # type: ignore[arg-type]

    monkeypatch.setattr(hasher_class, "verify", spy)
    errors = []
    for username, password in [("alice", "wrong password"), ("mallory", PASSWORD)]:
        with pytest.raises(InvalidCredentialsError) as info:
            await service.login(username, password)
        errors.append((info.value.code, info.value.description))
    assert errors[0] == errors[1] == ("invalid_grant", "Invalid username or password.")
    assert len(calls) == 2  # one argon2 verification each, the dummy hash for mallory


async def test_login_is_case_insensitive_on_the_username(service: TokenService) -> None:
    await service.create_user("Alice", PASSWORD)
    assert (await service.login("alice", PASSWORD)).sub == (await service.find_user("ALICE")).sub


@pytest.mark.parametrize(
    "username,password,roles",
    [
        ("", PASSWORD, ()),
        ("x" * 151, PASSWORD, ()),
        (" alice", PASSWORD, ()),
        ("al\nice", PASSWORD, ()),
        ("alice", "short", ()),
        ("alice", "p" * 1025, ()),
        ("alice", PASSWORD, ("bad role",)),
        ("alice", PASSWORD, "admin"),
        ("alice", PASSWORD, tuple(f"r{i}" for i in range(33))),
        (None, PASSWORD, ()),
    ],
    ids=[
        "empty",
        "long",
        "space",
        "control",
        "short-pw",
        "long-pw",
        "bad-role",
        "roles-str",
        "too-many-roles",
        "none",
    ],
)
async def test_bad_user_input_is_refused(
    service: TokenService, username: object, password: str, roles: object
) -> None:
    with pytest.raises(InvalidRequestError):
        await service.create_user(username, password, roles)  # type: ignore[arg-type]
    assert await service.list_users() == []


async def test_duplicate_username_is_a_conflict(service: TokenService) -> None:
    await service.create_user("alice", PASSWORD)
    with pytest.raises(StoreConflictError):
        await service.create_user("ALICE", PASSWORD)


@pytest.mark.parametrize(
    "username,password",
    [(None, "x"), ("alice", None), ("a" * 10_000, "x"), ("alice", "p" * 100_000)],
)
async def test_hostile_login_input_is_refused_without_crashing(
    service: TokenService, username: object, password: object
) -> None:
    await service.create_user("alice", PASSWORD)
    with pytest.raises((InvalidRequestError, InvalidCredentialsError)):
        await service.login(username, password)  # type: ignore[arg-type]


async def test_events_and_logs_never_contain_a_token_or_password(
    service: TokenService, clock: FrozenClock, events: list[Event], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await service.create_user("alice", PASSWORD)
    pair = await service.login("alice", PASSWORD, ip="10.1.1.1", user_agent="Browser\nFAKE kind=x")
    clock.advance(1)
    child = await service.refresh(pair.refresh_token)
    clock.advance(60)
    with pytest.raises(InvalidGrantError):
        await service.refresh(pair.refresh_token, ip="10.6.6.6", user_agent="thief")
    with pytest.raises(InvalidGrantError):
        await service.login("alice", "not the password")
    text = caplog.text + repr(events)
    for secret in (
        pair.access_token,
        pair.refresh_token,
        child.refresh_token,
        child.access_token,
        PASSWORD,
        "not the password",
    ):
        assert secret not in text
        assert secret.split(".")[-1] not in text
    reuse = [r for r in caplog.records if "reuse_detected" in r.getMessage()]
    assert len(reuse) == 1 and reuse[0].levelno == logging.WARNING
    assert "\n" not in reuse[0].getMessage() or "FAKE" not in reuse[0].getMessage().split("\n")[1]
    assert {e.kind for e in events} >= {
        "user_created",
        "login",
        "refresh",
        "reuse_detected",
        "login_failed",
    }


async def test_a_failing_event_callback_does_not_break_the_operation(
    make_service: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    svc = await make_service("memory")

    def boom(event: Event) -> None:
        raise RuntimeError("callback bug")

    svc.subscribe(boom)
    await svc.create_user("alice", PASSWORD)
    await svc.login("alice", PASSWORD)
    assert "callback failed" in caplog.text


async def test_purge_runs_by_itself_during_traffic(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    svc = await make_service("sqlite", purge_interval=60, access_ttl=30)
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    await svc.revoke_access_token(pair.access_token)
    await svc.logout(await svc.decode(pair.access_token))
    clock.advance(61)
    assert await svc.store.get_session(pair.sid) is not None
    await svc.login("alice", PASSWORD)  # any traffic past the interval purges
    assert await svc.store.get_session(pair.sid) is None
    assert len(await svc.store.revocation_snapshot(0, 1e12)) == 0


async def test_revoke_token_per_rfc7009(service: TokenService, clock: FrozenClock) -> None:
    await service.create_user("alice", PASSWORD)
    a, b = await service.login("alice", PASSWORD), await service.login("alice", PASSWORD)
    assert await service.revoke_token(a.refresh_token, "refresh_token")
    with pytest.raises(SessionRevokedError):
        await service.verify(a.access_token)
    assert await service.revoke_token(b.access_token, "refresh_token")  # wrong hint still works
    with pytest.raises(TokenDeniedError):
        await service.verify(b.access_token)
    await service.refresh(b.refresh_token)  # an AT revocation leaves the session
    assert not await service.revoke_token("garbage")
    assert not await service.revoke_token(a.refresh_token)  # already revoked
    clock.advance(service.policy.access_ttl + 1)
    c = await service.login("alice", PASSWORD)
    clock.advance(service.policy.access_ttl + 1)
    assert not await service.revoke_access_token(c.access_token)  # expired: nothing to do


async def test_sessions_list_only_the_live_ones(service: TokenService, clock: FrozenClock) -> None:
    user = await service.create_user("alice", PASSWORD)
    a = await service.login("alice", PASSWORD, ip="10.0.0.1", user_agent="phone")
    b = await service.login("alice", PASSWORD)
    await service.revoke_session(b.sid)
    sessions = await service.list_sessions(user.sub)
    assert [(s.sid, s.ip, s.user_agent) for s in sessions] == [(a.sid, "10.0.0.1", "phone")]
    with pytest.raises(NotFoundError):
        await service.list_sessions("nobody")


async def test_ban_validation_and_unban(service: TokenService, clock: FrozenClock) -> None:
    user = await service.create_user("alice", PASSWORD)
    old = await service.login("alice", PASSWORD)
    with pytest.raises(InvalidRequestError):
        await service.ban(user.sub, clock.now() - 1)
    with pytest.raises(NotFoundError):
        await service.ban("nobody", clock.now() + 10)
    clock.advance(1)
    await service.ban(user.sub, clock.now() + 3600)
    # The same answer as a wrong password: a guess during a ban is not confirmed.
    with pytest.raises(InvalidCredentialsError, match="Invalid username or password"):
        await service.login("alice", PASSWORD)
    await service.unban(user.sub)
    new = await service.login("alice", PASSWORD)
    await service.verify(new.access_token)
    with pytest.raises(UserCutoffError):
        await service.verify(old.access_token)


async def test_change_password_requires_the_current_one(service: TokenService) -> None:
    user = await service.create_user("alice", PASSWORD)
    with pytest.raises(InvalidCredentialsError):
        await service.change_password(user.sub, "wrong password", "new password!")
    with pytest.raises(InvalidRequestError):
        await service.change_password(user.sub, PASSWORD, "short")
    await service.login("alice", PASSWORD)


async def test_hashes_are_upgraded_at_login_when_parameters_grow(
    service: TokenService,
) -> None:
    await service.create_user("alice", PASSWORD)
    old_hash = (await service.find_user("alice")).password_hash
    service.passwords = Passwords(time_cost=2, memory_cost=16, parallelism=1)
    await service.login("alice", PASSWORD)
    new_hash = (await service.find_user("alice")).password_hash
    assert new_hash != old_hash and "t=2" in new_hash


async def test_verifier_checks_revocations_offline_from_a_snapshot(
    service: TokenService, clock: FrozenClock
) -> None:
    user = await service.create_user("alice", PASSWORD)
    await service.create_user("bob", PASSWORD)
    live, denied, ended = [await service.login("alice", PASSWORD) for _ in range(3)]
    bob = await service.login("bob", PASSWORD)
    await service.revoke_access_token(denied.access_token)
    await service.revoke_session(ended.sid)
    clock.advance(1)
    bob_sub = (await service.find_user("bob")).sub
    await service.revoke_user(bob_sub)

    view = RevocationView()
    view.load(await service.revocation_snapshot())
    verifier = Verifier(
        issuer=service.policy.issuer,
        audience=service.policy.audience,
        keys=service.jwks(),
        view=view,
        clock=clock,
    )
    assert verifier.verify(live.access_token).sub == user.sub
    with pytest.raises(TokenDeniedError):
        verifier.verify(denied.access_token)
    with pytest.raises(SessionRevokedError):
        verifier.verify(ended.access_token)
    with pytest.raises(UserCutoffError):
        verifier.verify(bob.access_token)


async def test_failed_logins_are_throttled_per_user_and_ip_even_for_the_right_password(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    from jwtwarden import RateLimitedError

    svc = await make_service("sqlite", login_max_failures=5, login_window=900)
    await svc.create_user("alice", PASSWORD)
    for _ in range(5):
        with pytest.raises(InvalidCredentialsError):
            await svc.login("alice", "guess", ip="198.51.100.1")
        clock.advance(10)
    with pytest.raises(RateLimitedError) as info:
        await svc.login("alice", PASSWORD, ip="198.51.100.1")  # right password, still refused
    assert info.value.retry_after == 900 - 50
    # The attacker cannot lock alice out from her own address.
    await svc.login("alice", PASSWORD, ip="192.0.2.55")
    clock.advance(info.value.retry_after)
    await svc.login("alice", PASSWORD, ip="198.51.100.1")


async def test_one_ip_guessing_many_usernames_is_throttled(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    from jwtwarden import RateLimitedError

    svc = await make_service("memory", login_ip_max_failures=20)
    await svc.create_user("alice", PASSWORD)
    for i in range(20):
        with pytest.raises(InvalidCredentialsError):
            await svc.login(f"user{i}", "guess", ip="198.51.100.9")
    with pytest.raises(RateLimitedError):
        await svc.login("alice", PASSWORD, ip="198.51.100.9")
    await svc.login("alice", PASSWORD, ip="198.51.100.10")


async def test_a_successful_login_resets_the_user_ip_counter(
    service: TokenService,
) -> None:
    await service.create_user("alice", PASSWORD)
    for _ in range(3):
        for _ in range(4):
            with pytest.raises(InvalidCredentialsError):
                await service.login("alice", "typo", ip="192.0.2.1")
        await service.login("alice", PASSWORD, ip="192.0.2.1")


async def test_clients_authenticate_with_their_secret_only(service: TokenService) -> None:
    from jwtwarden.errors import InvalidClientError

    client, secret = await service.create_client("orders-api")
    assert client.client_id.startswith("rs_") and secret not in repr(client)
    assert await service.authenticate_client(client.client_id, secret) == client
    for cid, sec in [
        (client.client_id, secret + "x"),
        ("rs_unknown", secret),
        (None, secret),
        (client.client_id, None),
        ("x" * 1000, secret),
    ]:
        with pytest.raises(InvalidClientError):
            await service.authenticate_client(cid, sec)  # type: ignore[arg-type]
    with pytest.raises(StoreConflictError):
        await service.create_client("orders-api")
    with pytest.raises(InvalidRequestError):
        await service.create_client("bad name!")


async def test_introspection(service: TokenService, clock: FrozenClock) -> None:
    await service.create_user("alice", PASSWORD, roles=["admin"])
    pair = await service.login("alice", PASSWORD)
    at = await service.introspect(pair.access_token)
    assert at["active"] and at["token_type"] == "access_token" and at["sub"] == pair.sub
    assert at["roles"] == ["admin"] and at["sid"] == pair.sid
    assert await service.introspect(pair.refresh_token, "refresh_token") == {"active": False}
    rt = await service.introspect(pair.refresh_token, "refresh_token", refresh_tokens=True)
    assert rt["active"] and rt["token_type"] == "refresh_token" and rt["sid"] == pair.sid
    assert all(type(rt[k]) is int for k in ("exp", "iat", "auth_time"))  # NumericDates
    # Introspecting is not using: the refresh token still rotates afterwards.
    clock.advance(1)
    child = await service.refresh(pair.refresh_token)
    assert (await service.introspect(pair.refresh_token, refresh_tokens=True)) == {"active": False}
    assert (await service.introspect(child.refresh_token, refresh_tokens=True))["active"]
    await service.revoke_session(pair.sid)
    for token in (child.access_token, child.refresh_token, "junk", ""):
        assert await service.introspect(token) == {"active": False}
