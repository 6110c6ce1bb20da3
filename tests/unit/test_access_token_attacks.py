"""Every way a hostile access token is refused (RFC 8725 §2-3), each with a
specific error and never an unexpected exception."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jwtwarden import (
    BadSignatureError,
    ClaimsError,
    ExpiredTokenError,
    FrozenClock,
    InvalidGrantError,
    InvalidTokenError,
    MalformedTokenError,
    TokenDeniedError,
    TokenService,
    UnknownKeyError,
)
from tests.conftest import ServiceFactory

PASSWORD = "correct horse battery"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj: Any) -> str:
    return b64(json.dumps(obj).encode())


@pytest.fixture
async def svc(make_service: ServiceFactory) -> TokenService:
    service = await make_service("memory")
    await service.create_user("alice", PASSWORD, roles=["user"])
    return service


async def issued(svc: TokenService) -> tuple[str, dict[str, Any], dict[str, Any]]:
    pair = await svc.login("alice", PASSWORD)
    header = jwt.get_unverified_header(pair.access_token)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    return pair.access_token, header, claims


def sign(svc: TokenService, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token signed by the service's real Ed25519 key, with any header and
    claims we like (PyJWT would refuse to encode some of them)."""
    key = svc.keys.signing_key()
    signing_input = f"{part(header)}.{part(claims)}"
    return f"{signing_input}.{b64(key.private.sign(signing_input.encode()))}"  # type: ignore[union-attr]


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_in_any_casing_is_refused(svc: TokenService, alg: str) -> None:
    _, header, claims = await issued(svc)
    for signature in ("", "AAAA"):
        token = f"{part({**header, 'alg': alg})}.{part(claims)}.{signature}"
        with pytest.raises(MalformedTokenError):
            await svc.verify(token)


async def test_hs256_signed_with_the_public_key_is_refused(make_service: ServiceFactory) -> None:
    # The classic RS/HS confusion: the attacker HMACs with the published key.
    svc = await make_service("memory", algorithm="RS256")
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    header = jwt.get_unverified_header(pair.access_token)
    public = jwt.PyJWK(svc.jwks()["keys"][0]).key
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[union-attr]
    signing_input = f"{part({**header, 'alg': 'HS256'})}.{part(claims)}".encode()
    mac = hmac.new(pem, signing_input, hashlib.sha256).digest()
    forged = f"{signing_input.decode()}.{b64(mac)}"
    with pytest.raises(BadSignatureError):
        await svc.verify(forged)


@pytest.mark.parametrize("alg", ["ES256", "RS256", "HS256", "EdDSA "])
async def test_an_alg_other_than_the_keys_own_is_refused(svc: TokenService, alg: str) -> None:
    token, header, claims = await issued(svc)
    _, payload, signature = token.split(".")
    forged = f"{part({**header, 'alg': alg})}.{payload}.{signature}"
    with pytest.raises(BadSignatureError):
        await svc.verify(forged)


@pytest.mark.parametrize("kid", ["unknown-kid", "", 42, None, "x" * 300])
async def test_unknown_or_malformed_kid_is_refused(svc: TokenService, kid: object) -> None:
    _, header, claims = await issued(svc)
    with pytest.raises((UnknownKeyError, MalformedTokenError)):
        await svc.verify(sign(svc, {**header, "kid": kid}, claims))


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
        {"x5u": "https://evil.example/cert.pem"},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"]},
    ],
    ids=["jku", "jwk", "x5u", "x5c", "crit"],
)
async def test_headers_that_name_their_own_key_are_refused(
    svc: TokenService, extra: dict[str, Any]
) -> None:
    _, header, claims = await issued(svc)
    with pytest.raises(MalformedTokenError):
        await svc.verify(sign(svc, {**header, **extra}, claims))


@pytest.mark.parametrize("typ", ["JWT", "rt+jwt", "", None, 1])
async def test_a_token_that_is_not_an_access_token_is_refused(
    svc: TokenService, typ: object
) -> None:
    _, header, claims = await issued(svc)
    if typ is None:
        headers = {k: v for k, v in header.items() if k != "typ"}
    else:
        headers = {**header, "typ": typ}
    token = sign(svc, headers, claims)
    with pytest.raises(ClaimsError):
        await svc.verify(token)


async def test_media_type_spelling_of_typ_is_accepted(svc: TokenService) -> None:
    _, header, claims = await issued(svc)
    await svc.verify(sign(svc, {**header, "typ": "application/at+jwt"}, claims))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "sid", "auth_time", "iss", "aud"])
async def test_a_missing_required_claim_is_refused(svc: TokenService, claim: str) -> None:
    _, header, claims = await issued(svc)
    del claims[claim]
    with pytest.raises(ClaimsError):
        await svc.verify(sign(svc, header, claims))


@pytest.mark.parametrize(
    "claim,value",
    [
        ("exp", "2100000000"),
        ("exp", True),
        ("exp", float("inf")),
        ("exp", 10**400),
        ("iat", None),
        ("sub", 7),
        ("sub", ""),
        ("sid", ["x"]),
        ("jti", "j" * 300),
        ("roles", "admin"),
        ("roles", [1]),
        ("client_id", 5),
        ("nbf", "soon"),
    ],
)
async def test_a_claim_of_the_wrong_type_is_refused(
    svc: TokenService, claim: str, value: object
) -> None:
    _, header, claims = await issued(svc)
    claims[claim] = value
    token = sign(svc, header, claims)
    with pytest.raises((ClaimsError, MalformedTokenError)):
        await svc.verify(token)


@pytest.mark.parametrize(
    "claim,value",
    [("iss", "https://evil.example"), ("aud", "someone-else"), ("aud", ["a", "b"])],
)
async def test_wrong_issuer_or_audience_is_refused(
    svc: TokenService, claim: str, value: object
) -> None:
    _, header, claims = await issued(svc)
    claims[claim] = value
    with pytest.raises(ClaimsError):
        await svc.verify(sign(svc, header, claims))


async def test_audience_list_that_includes_ours_is_accepted(svc: TokenService) -> None:
    _, header, claims = await issued(svc)
    claims["aud"] = ["other", svc.policy.audience]
    await svc.verify(sign(svc, header, claims))


async def test_expiry_respects_the_leeway(make_service: ServiceFactory, clock: FrozenClock) -> None:
    strict = await make_service("memory", access_ttl=60)
    await strict.create_user("alice", PASSWORD)
    pair = await strict.login("alice", PASSWORD)
    clock.advance(59.9)
    await strict.verify(pair.access_token)
    clock.advance(0.1)
    with pytest.raises(ExpiredTokenError):
        await strict.verify(pair.access_token)

    lenient = await make_service("memory", access_ttl=60, leeway=30)
    await lenient.create_user("alice", PASSWORD)
    pair = await lenient.login("alice", PASSWORD)
    clock.advance(89)
    await lenient.verify(pair.access_token)
    clock.advance(1)
    with pytest.raises(ExpiredTokenError):
        await lenient.verify(pair.access_token)


async def test_a_token_issued_in_the_future_is_refused(svc: TokenService) -> None:
    _, header, claims = await issued(svc)
    claims["iat"] = claims["auth_time"] = claims["iat"] + 120
    claims["exp"] += 120
    with pytest.raises(ClaimsError):
        await svc.verify(sign(svc, header, claims))


async def test_a_tampered_payload_fails_the_signature(svc: TokenService) -> None:
    token, _, claims = await issued(svc)
    h, _, s = token.split(".")
    with pytest.raises(BadSignatureError):
        await svc.verify(f"{h}.{part({**claims, 'roles': ['admin']})}.{s}")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "e30.e30.",
        "e30.e30.e30",
        b64(b"[]") + ".e30.sig",
        b64(b'"str"') + ".e30.sig",
        b64(b"\xff\xfe\xfd") + ".e30.sig",
        b64(nested(100_000).encode()) + ".e30.sig",
        "x" * 10_000_000,
        "\u00e9\u00e9.\u00e9.\u00e9",
    ],
    ids=[
        "empty",
        "dot",
        "dots",
        "two-parts",
        "four-parts",
        "bad-b64",
        "no-sig",
        "no-alg",
        "array-header",
        "string-header",
        "non-utf8",
        "nested-json",
        "huge",
        "non-ascii",
    ],
)
async def test_malformed_input_is_one_clear_error(svc: TokenService, token: str) -> None:
    with pytest.raises(MalformedTokenError):
        await svc.verify(token)


@pytest.mark.parametrize("token", [None, 42, b"bytes.are.wrong", ["a"]])
async def test_non_string_input_is_malformed(svc: TokenService, token: object) -> None:
    with pytest.raises(MalformedTokenError):
        await svc.verify(token)  # type: ignore[arg-type]


async def test_deeply_nested_payload_behind_a_valid_signature(svc: TokenService) -> None:
    _, header, _ = await issued(svc)
    key = svc.keys.signing_key()
    token = jwt.api_jws.encode(
        nested(100_000).encode(),
        key.private,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": "at+jwt"},
    )
    with pytest.raises(MalformedTokenError):
        await svc.verify(token)


async def test_refresh_token_is_not_an_access_token(svc: TokenService) -> None:
    pair = await svc.login("alice", PASSWORD)
    with pytest.raises(InvalidTokenError):
        await svc.verify(pair.refresh_token)


async def test_access_token_is_not_a_refresh_token(svc: TokenService) -> None:
    pair = await svc.login("alice", PASSWORD)
    with pytest.raises(InvalidGrantError):
        await svc.refresh(pair.access_token)


async def test_another_spelling_of_a_revoked_token_is_just_as_revoked(svc: TokenService) -> None:
    # Revocation keys on the jti, never on the token string: spare bits in
    # the last base64 character, or padding, do not make a new token.
    token, _, _ = await issued(svc)
    h, p, s = token.split(".")
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(s[-1])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = alphabet[last ^ 0b1]  # flip a spare bit (64-byte sig: 4 spare bits)
    variants = [f"{h}.{p}.{s[:-1]}{spare}", f"{h}.{p}.{s}=", f"{h}.{p}=.{s}"]
    assert await svc.revoke_access_token(token)
    for variant in variants:
        with pytest.raises(InvalidTokenError) as info:
            await svc.verify(variant)
        assert isinstance(info.value, TokenDeniedError | MalformedTokenError)
