"""DPoP at a resource server (RFC 9449 §7): the presentation rules and the
bounded replay cache."""

from __future__ import annotations

import pytest

from jwtwarden.errors import InvalidDpopProofError, InvalidTokenError
from jwtwarden.tokens.dpop import access_token_hash
from jwtwarden.tokens.jwks import thumbprint
from jwtwarden.verifier.dpop import ReplayCache, check_presentation, dpop_challenge
from tests.unit.test_dpop_proofs import HOLDERS, NOW, Holder

URI = "https://api.example.test/orders"
TOKEN = "eyJ.bound.token"


@pytest.fixture
def holder() -> Holder:
    return HOLDERS["ES256"]()


def present(holder: Holder, *, replay: ReplayCache, scheme: str = "dpop", **claims: object) -> None:
    body = {"htm": "GET", "htu": URI, "ath": access_token_hash(TOKEN), **claims}
    options = {"jkt": thumbprint(holder.jwk), "proof": holder.proof(body)}
    check_presentation(
        scheme=scheme, token=TOKEN, method="GET", uri=URI, now=NOW, replay=replay, **options
    )


def test_a_bound_token_with_a_fresh_proof_from_its_key_is_accepted(holder: Holder) -> None:
    present(holder, replay=ReplayCache())


def test_a_bound_token_sent_as_bearer_is_refused(holder: Holder) -> None:
    with pytest.raises(InvalidTokenError, match="DPoP-bound"):
        check_presentation(
            scheme="bearer",
            token=TOKEN,
            jkt=thumbprint(holder.jwk),
            proof=None,
            method="GET",
            uri=URI,
            now=NOW,
            replay=ReplayCache(),
        )


def test_an_unbound_token_under_the_dpop_scheme_is_refused(holder: Holder) -> None:
    with pytest.raises(InvalidTokenError, match="not DPoP-bound"):
        check_presentation(
            scheme="dpop",
            token=TOKEN,
            jkt=None,
            proof=holder.proof(),
            method="GET",
            uri=URI,
            now=NOW,
            replay=ReplayCache(),
        )
    check_presentation(
        scheme="bearer",
        token=TOKEN,
        jkt=None,
        proof=None,
        method="GET",
        uri=URI,
        now=NOW,
        replay=ReplayCache(),
    )


def test_a_proof_from_another_key_or_without_a_proof_is_refused(holder: Holder) -> None:
    thief = HOLDERS["ES256"]()
    body = {"htm": "GET", "htu": URI, "ath": access_token_hash(TOKEN)}
    for proof in (thief.proof(body), None):
        with pytest.raises(InvalidDpopProofError):
            check_presentation(
                scheme="dpop",
                token=TOKEN,
                jkt=thumbprint(holder.jwk),
                proof=proof,
                method="GET",
                uri=URI,
                now=NOW,
                replay=ReplayCache(),
            )


def test_a_replayed_proof_is_refused(holder: Holder) -> None:
    replay = ReplayCache()
    present(holder, replay=replay, jti="once")
    with pytest.raises(InvalidDpopProofError, match="used already"):
        present(holder, replay=replay, jti="once")
    present(HOLDERS["ES256"](), replay=replay, jti="once")  # jti is per key


def test_the_replay_cache_stays_bounded_and_still_refuses_what_it_dropped() -> None:
    cache = ReplayCache(max_entries=100)
    for i in range(1000):
        assert cache.first_use(f"k:{i}", iat=NOW + i / 100, until=NOW + 65, now=NOW)
        assert len(cache) <= 100
    # Every dropped proof is now under the floor: its replay is refused.
    assert all(
        not cache.first_use(f"k:{i}", iat=NOW + i / 100, until=NOW + 65, now=NOW)
        for i in range(1000)
    )
    assert cache.floor == NOW + 899 / 100
    assert cache.first_use("k:new", iat=NOW + 10, until=NOW + 75, now=NOW)


def test_expired_entries_leave_the_cache() -> None:
    cache = ReplayCache()
    for i in range(50):
        cache.first_use(f"k:{i}", iat=NOW, until=NOW + 65, now=NOW)
    assert cache.first_use("late", iat=NOW + 70, until=NOW + 135, now=NOW + 70)
    assert len(cache) == 1


def test_the_challenge_names_the_algorithms() -> None:
    assert dpop_challenge() == 'DPoP realm="jwtwarden", algs="ES256 EdDSA Ed25519 RS256 PS256"'
    challenge = dpop_challenge("invalid_dpop_proof", 'bad "proof"')
    assert challenge.endswith('error="invalid_dpop_proof", error_description="bad \'proof\'"')
