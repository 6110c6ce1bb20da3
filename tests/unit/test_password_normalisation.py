"""Passwords are NFKC-normalised (NIST SP 800-63B §5.1.1.2), and a hash
made before that still works once, then is remade."""

from __future__ import annotations

import asyncio

from jwtwarden import TokenService
from tests.conftest import CHEAP_TEST_PASSWORDS

TYPED = "ﬁve ｆｕｌｌ-width words"  # NFKC: "five full-width words"


async def test_two_spellings_of_one_password_are_one_password(service: TokenService) -> None:
    await service.create_user("alice", TYPED)
    await service.login("alice", "five full-width words")
    await service.login("alice", TYPED)


async def test_a_hash_made_before_normalisation_still_logs_in_and_is_remade(
    service: TokenService,
) -> None:
    user = await service.create_user("alice", "placeholder password")
    legacy = await asyncio.to_thread(CHEAP_TEST_PASSWORDS._hasher.hash, TYPED)
    await service.store.set_password(user.sub, legacy, None, None)
    await service.login("alice", TYPED)
    remade = (await service.find_user("alice")).password_hash
    assert remade != legacy
    assert (await CHEAP_TEST_PASSWORDS.check(remade, TYPED)) == (True, False)
    await service.login("alice", "five full-width words")


async def test_an_unknown_user_costs_the_same_two_tries() -> None:
    calls: list[str] = []
    real = CHEAP_TEST_PASSWORDS._matches

    async def counting(target: str, password: str) -> bool:
        calls.append(password)
        return await real(target, password)

    CHEAP_TEST_PASSWORDS._matches = counting  # type: ignore[method-assign]
    try:
        assert (await CHEAP_TEST_PASSWORDS.check(None, TYPED)) == (False, False)
    finally:
        del CHEAP_TEST_PASSWORDS._matches  # type: ignore[method-assign]
    assert len(calls) == 2
