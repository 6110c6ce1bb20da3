"""Signing keys: generation, rotation, retirement, JWKS."""

from __future__ import annotations

import jwt
import pytest

from jwtwarden import FrozenClock, TokenService, UnknownKeyError
from jwtwarden.tokens.jwks import parse_jwks, thumbprint
from tests.conftest import ServiceFactory

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256", "HS256"])
async def test_every_algorithm_signs_and_verifies(make_service: ServiceFactory, alg: str) -> None:
    svc = await make_service("memory", algorithm=alg)
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    assert jwt.get_unverified_header(pair.access_token)["alg"] == alg
    assert (await svc.verify(pair.access_token)).sub == pair.sub
    jwks = svc.jwks()
    if alg == "HS256":
        assert jwks == {"keys": []}  # a shared secret is never published
    else:
        (key,) = jwks["keys"]
        assert key["kid"] == thumbprint(key) and key["alg"] == alg and key["use"] == "sig"
        assert "d" not in key and "p" not in key
        # An outside library verifies our token from the JWKS alone.
        public = jwt.PyJWK(key).key
        claims = jwt.decode(
            pair.access_token,
            public,
            algorithms=[alg],
            audience=svc.policy.audience,
            options={"verify_exp": False, "verify_iat": False},
        )
        assert claims["sub"] == pair.sub


async def test_rotated_keys_verify_until_their_tokens_expire_then_go(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    svc = await make_service("memory", access_ttl=300)
    await svc.create_user("alice", PASSWORD)
    old = await svc.login("alice", PASSWORD)
    old_kid = svc.keys.signing_key().kid
    clock.advance(10)
    new_key = await svc.rotate_keys()
    new = await svc.login("alice", PASSWORD)
    assert jwt.get_unverified_header(new.access_token)["kid"] == new_key.kid != old_kid
    assert {k["kid"] for k in svc.jwks()["keys"]} == {old_kid, new_key.kid}
    clock.advance(200)
    await svc.verify(old.access_token)
    clock.advance(400)  # past 300 s + the reload interval: the old key goes
    await svc.purge()
    assert [k["kid"] for k in svc.jwks()["keys"]] == [new_key.kid]
    with pytest.raises(UnknownKeyError):
        await svc.decode(old.access_token)


async def test_parse_jwks_skips_what_it_cannot_use() -> None:
    doc = {
        "keys": [
            {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "h"},
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "alg": "EdDSA",
                "kid": "ok",
            },
            {"kty": "OKP", "crv": "Ed25519", "x": "bad", "alg": "EdDSA", "kid": "broken"},
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "alg": "EdDSA",
                "kid": "enc",
                "use": "enc",
            },
            "junk",
        ]
    }
    assert [k.kid for k in parse_jwks(doc)] == ["ok"]
    assert parse_jwks({"keys": "nope"}) == []


async def test_signing_key_ids_are_stable_across_reloads(service: TokenService) -> None:
    kid = service.keys.signing_key().kid
    await service.keys.reload(0.0)
    assert service.keys.signing_key().kid == kid
