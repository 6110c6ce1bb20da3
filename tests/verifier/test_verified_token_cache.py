"""The cache of verified tokens skips the signature and the parsing of a
token seen before, never its expiry or its revocation, and stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from jwtwarden import FrozenClock, Verifier
from jwtwarden.core.revocation import UserRevocation
from jwtwarden.errors import (
    ExpiredTokenError,
    SessionRevokedError,
    TokenDeniedError,
    UnknownKeyError,
    UserCutoffError,
)
from jwtwarden.tokens import access
from jwtwarden.verifier import verifier as verifier_module
from tests.conftest import ServiceFactory

from .conftest import PASSWORD, Minted, mint


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every token that went through signature and parsing."""
    seen: list[str] = []
    original = access.decode_access_token

    def spy(token: str, *args: object, **kwargs: object) -> object:
        seen.append(token)
        return original(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(verifier_module, "decode_access_token", spy)  # the name it calls
    yield seen


def test_a_token_seen_before_skips_the_signature_check(minted: Minted, decodes: list[str]) -> None:
    first = minted.verifier.verify(minted.alice)
    assert minted.verifier.verify(minted.alice) is first
    assert decodes == [minted.alice]


def test_a_revocation_added_after_the_first_verify_is_still_seen(
    minted: Minted, decodes: list[str]
) -> None:
    claims = minted.verifier.verify(minted.alice)
    minted.view.deny_jti(claims.jti, claims.exp)
    with pytest.raises(TokenDeniedError):
        minted.verifier.verify(minted.alice)
    assert decodes == [minted.alice]


@pytest.mark.parametrize("kind", ["session", "cutoff"])
def test_session_and_user_revocations_reach_cached_tokens(minted: Minted, kind: str) -> None:
    claims = minted.verifier.verify(minted.alice)
    if kind == "session":
        minted.view.revoke_session(claims.sid, claims.exp)
        expected: type[Exception] = SessionRevokedError
    else:
        minted.view.set_user(claims.sub, UserRevocation(claims.auth_time + 1), claims.exp)
        expected = UserCutoffError
    with pytest.raises(expected):
        minted.verifier.verify(minted.alice)


def test_expiry_is_still_enforced_on_a_cached_token(minted: Minted, decodes: list[str]) -> None:
    claims = minted.verifier.verify(minted.alice)
    minted.clock.set(claims.exp - 0.000001)
    minted.verifier.verify(minted.alice)
    minted.clock.set(claims.exp)
    with pytest.raises(ExpiredTokenError):
        minted.verifier.verify(minted.alice)
    assert decodes == [minted.alice]


async def test_leeway_applies_to_cached_tokens_too(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    minted = await mint(make_service, clock, leeway=5)
    claims = minted.verifier.verify(minted.alice)
    clock.set(claims.exp + 4)
    minted.verifier.verify(minted.alice)
    clock.set(claims.exp + 5)
    with pytest.raises(ExpiredTokenError):
        minted.verifier.verify(minted.alice)


async def tokens_of(minted: Minted, n: int) -> list[str]:
    return [(await minted.service.login("alice", PASSWORD)).access_token for _ in range(n)]


async def test_the_cache_is_bounded_and_drops_the_least_recently_used(
    make_service: ServiceFactory, clock: FrozenClock, decodes: list[str]
) -> None:
    minted = await mint(make_service, clock, cache_size=2)
    a, b, c = await tokens_of(minted, 3)
    for token in (a, b, a, c):  # c pushes out b, the least recently used
        minted.verifier.verify(token)
    assert len(minted.verifier._cache) == 2
    decodes.clear()
    minted.verifier.verify(a)
    minted.verifier.verify(c)
    assert decodes == []
    minted.verifier.verify(b)
    assert decodes == [b]


async def test_cache_size_zero_disables_the_cache(
    make_service: ServiceFactory, clock: FrozenClock, decodes: list[str]
) -> None:
    minted = await mint(make_service, clock, cache_size=0)
    for _ in range(3):
        minted.verifier.verify(minted.alice)
    assert decodes == [minted.alice] * 3


def test_replacing_the_keys_drops_what_a_withdrawn_key_vouched_for(minted: Minted) -> None:
    minted.verifier.verify(minted.alice)
    minted.verifier.set_keys({"keys": []})
    with pytest.raises(UnknownKeyError):
        minted.verifier.verify(minted.alice)


def test_setting_the_same_keys_keeps_the_cache(minted: Minted, decodes: list[str]) -> None:
    minted.verifier.verify(minted.alice)
    minted.verifier.set_keys(minted.service.jwks())
    minted.verifier.verify(minted.alice)
    assert decodes == [minted.alice]


def test_a_forged_token_is_never_answered_from_the_cache(minted: Minted) -> None:
    minted.verifier.verify(minted.alice)
    from jwtwarden.errors import BadSignatureError

    for _ in range(2):
        with pytest.raises(BadSignatureError):
            minted.verifier.verify(minted.forged())


async def test_many_threads_share_a_small_cache_safely(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    minted = await mint(make_service, clock, cache_size=8)
    tokens = await tokens_of(minted, 24)
    expected = {t: minted.verifier.verify(t).jti for t in tokens}
    denied = tokens[::5]
    for token in denied:
        minted.deny(token)

    def check(token: str) -> bool:
        try:
            assert minted.verifier.verify(token).jti == expected[token]
        except TokenDeniedError:
            return token in denied
        return token not in denied

    with ThreadPoolExecutor(20) as pool:
        assert all(pool.map(check, tokens * 100))
    assert len(minted.verifier._cache) <= 8


def test_a_non_string_token_is_malformed_not_a_crash(minted: Minted) -> None:
    from jwtwarden.errors import MalformedTokenError

    for junk in (None, b"abc", ["a"], {"a": 1}):
        with pytest.raises(MalformedTokenError):
            minted.verifier.verify(junk)  # type: ignore[arg-type]


def test_a_static_key_verifier_accepts_key_objects(minted: Minted) -> None:
    verifier = Verifier(
        issuer=minted.verifier.issuer,
        audience=minted.verifier.audience,
        keys=minted.service.keys.ring.public_keys,
        clock=minted.clock,
    )
    assert verifier.verify(minted.root).roles == ("admin",)
    assert not verifier.needs_io(minted.root)
    assert not verifier.refresh_keys()
