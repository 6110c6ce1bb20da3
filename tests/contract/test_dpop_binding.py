"""DPoP binding at the token endpoint's service (RFC 9449 §5), on every
store: a bound session refreshes only with a proof by its key, a refusal
changes nothing (the owner still refreshes), a proof is single use across
processes, and server nonces rotate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jwtwarden import FrozenClock, Policy, TokenService
from jwtwarden.errors import (
    InvalidDpopProofError,
    InvalidRequestError,
    RefreshTokenReusedError,
    UseDpopNonceError,
)
from jwtwarden.events import Event
from jwtwarden.keysource import EphemeralKeySource, KeyManager
from jwtwarden.service.dpop import NONCE_WINDOW
from jwtwarden.stores import Store
from jwtwarden.tokens.dpop import Proof
from tests.conftest import CHEAP_TEST_PASSWORDS
from tests.contract.test_store_contract import T
from tests.dpop_keys import DpopKey

pytestmark = pytest.mark.store

URI = "http://127.0.0.1:8000/token"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T)


def a_service(store: Store, clock: FrozenClock, keys: KeyManager) -> TokenService:
    return TokenService(
        store, keys, Policy(refresh_grace=0), passwords=CHEAP_TEST_PASSWORDS, clock=clock
    )


@pytest.fixture
async def keys() -> KeyManager:
    return KeyManager(EphemeralKeySource(), "EdDSA", keep_retired_for=300.0)


@pytest.fixture
async def svc(store: Store, clock: FrozenClock, keys: KeyManager) -> AsyncIterator[TokenService]:
    service = a_service(store, clock, keys)
    await service.start()
    await service.create_user("alice", "pw-alice-1234")
    yield service


async def prove(svc: TokenService, key: DpopKey, **kw: object) -> Proof:
    return await svc.check_dpop_proof(
        key.proof(URI, iat=svc.clock.now(), **kw), method="POST", uri=URI
    )  # type: ignore[arg-type]


async def test_a_proof_binds_the_session_and_the_access_token(svc: TokenService) -> None:
    key = DpopKey()
    pair = await svc.login("alice", "pw-alice-1234", dpop=await prove(svc, key))
    assert pair.token_type == "DPoP"
    claims = await svc.verify(pair.access_token)
    assert claims.raw["cnf"] == {"jkt": key.jkt}
    assert (await svc.get_session(pair.sid)).jkt == key.jkt
    again = await svc.refresh(pair.refresh_token, dpop=await prove(svc, key))
    assert again.token_type == "DPoP"
    assert (await svc.verify(again.access_token)).raw["cnf"] == {"jkt": key.jkt}


async def test_no_proof_means_bearer_tokens_and_an_unbound_session(svc: TokenService) -> None:
    pair = await svc.login("alice", "pw-alice-1234")
    assert pair.token_type == "Bearer"
    assert "cnf" not in (await svc.verify(pair.access_token)).raw
    assert (await svc.get_session(pair.sid)).jkt is None


@pytest.mark.parametrize("process", ["same", "another"])
async def test_a_bound_refresh_token_without_its_key_is_refused_and_changes_nothing(
    svc: TokenService, store: Store, clock: FrozenClock, keys: KeyManager, process: str
) -> None:
    owner, thief = DpopKey(), DpopKey()
    pair = await svc.login("alice", "pw-alice-1234", dpop=await prove(svc, owner))
    other = svc if process == "same" else a_service(store, clock, keys)  # cold caches
    with pytest.raises(InvalidDpopProofError, match="DPoP-bound"):
        await other.refresh(pair.refresh_token)
    with pytest.raises(InvalidDpopProofError, match="another key"):
        await other.refresh(pair.refresh_token, dpop=await prove(svc, thief))
    session = await svc.get_session(pair.sid)
    assert session.generation == 0 and session.revoked_at is None
    assert (await other.refresh(pair.refresh_token, dpop=await prove(svc, owner))).sid == pair.sid


async def test_a_spent_bound_token_without_its_key_does_not_revoke_the_session(
    svc: TokenService,
) -> None:
    # The mismatch policy (docs/security.md): without the key, a copied
    # token is useless, so a stranger holding one cannot log the owner out.
    owner, thief = DpopKey(), DpopKey()
    first = await svc.login("alice", "pw-alice-1234", dpop=await prove(svc, owner))
    second = await svc.refresh(first.refresh_token, dpop=await prove(svc, owner))
    for dpop in (None, await prove(svc, thief)):
        with pytest.raises(InvalidDpopProofError):
            await svc.refresh(first.refresh_token, dpop=dpop)
    assert (await svc.get_session(first.sid)).revoked_at is None
    third = await svc.refresh(second.refresh_token, dpop=await prove(svc, owner))
    # The key's holder presenting a spent token is reuse, as without DPoP.
    with pytest.raises(RefreshTokenReusedError):
        await svc.refresh(second.refresh_token, dpop=await prove(svc, owner))
    assert (await svc.get_session(third.sid)).revoked_at is not None


async def test_an_unbound_session_refreshed_with_a_proof_stays_unbound(svc: TokenService) -> None:
    key = DpopKey()
    pair = await svc.login("alice", "pw-alice-1234")
    bound = await svc.refresh(pair.refresh_token, dpop=await prove(svc, key))
    assert bound.token_type == "DPoP"
    assert (await svc.verify(bound.access_token)).raw["cnf"] == {"jkt": key.jkt}
    assert (await svc.get_session(pair.sid)).jkt is None
    assert (await svc.refresh(bound.refresh_token)).token_type == "Bearer"


async def test_browser_mode_binds_the_refresh_token_only(svc: TokenService) -> None:
    key = DpopKey()
    pair = await svc.login("alice", "pw-alice-1234", dpop=await prove(svc, key), bind_access=False)
    assert pair.token_type == "Bearer" and "cnf" not in (await svc.verify(pair.access_token)).raw
    assert (await svc.get_session(pair.sid)).jkt == key.jkt
    with pytest.raises(InvalidDpopProofError):
        await svc.refresh(pair.refresh_token, bind_access=False)


async def test_a_proof_is_single_use_across_processes(
    svc: TokenService, store: Store, clock: FrozenClock, keys: KeyManager
) -> None:
    key = DpopKey()
    proof = key.proof(URI, iat=T)
    await svc.check_dpop_proof(proof, method="POST", uri=URI)
    other = a_service(store, clock, keys)
    with pytest.raises(InvalidDpopProofError, match="used before"):
        await other.check_dpop_proof(proof, method="POST", uri=URI)


async def test_nonces_rotate_and_the_previous_one_is_still_accepted(
    svc: TokenService, clock: FrozenClock
) -> None:
    key = DpopKey()

    async def check(nonce: str | None) -> Proof:
        proof = key.proof(URI, iat=clock.now(), nonce=nonce)
        return await svc.check_dpop_proof(proof, method="POST", uri=URI, require_nonce=True)

    with pytest.raises(UseDpopNonceError):
        await check(None)
    with pytest.raises(UseDpopNonceError):
        await check("made-up")
    nonce = svc.dpop_nonce()
    assert (await check(nonce)).nonce == nonce
    clock.advance(NONCE_WINDOW)
    assert svc.dpop_nonce() != nonce
    await check(nonce)
    clock.advance(NONCE_WINDOW)
    with pytest.raises(UseDpopNonceError):
        await check(nonce)
    await check(svc.dpop_nonce())


async def test_a_client_that_requires_dpop_gets_no_unbound_session(svc: TokenService) -> None:
    client, _ = await svc.create_client("spa", require_dpop=True)
    assert client.require_dpop
    with pytest.raises(InvalidRequestError, match="DPoP is required"):
        await svc.login("alice", "pw-alice-1234", client_id=client.client_id)
    assert await svc.list_sessions((await svc.find_user("alice")).sub) == []
    key = DpopKey()
    pair = await svc.login(
        "alice", "pw-alice-1234", client_id=client.client_id, dpop=await prove(svc, key)
    )
    assert pair.token_type == "DPoP"


async def test_a_refused_bound_refresh_is_an_event_naming_the_session_not_the_token(
    store: Store, clock: FrozenClock, keys: KeyManager, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[Event] = []
    svc = TokenService(
        store, keys, Policy(), passwords=CHEAP_TEST_PASSWORDS, clock=clock, on_event=events.append
    )
    await svc.start()
    await svc.create_user("bob", "pw-bob-12345678")
    pair = await svc.login("bob", "pw-bob-12345678", dpop=await prove(svc, DpopKey()))
    with (
        caplog.at_level("WARNING", logger="jwtwarden.events"),
        pytest.raises(InvalidDpopProofError),
    ):
        await svc.refresh(pair.refresh_token)
    assert [e.sid for e in events if e.kind == "dpop_mismatch"] == [pair.sid]
    assert "dpop_mismatch" in caplog.text and pair.refresh_token not in caplog.text
