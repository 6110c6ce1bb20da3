"""Catalogue entries on access tokens (SECURITY.md §2 A-D) that
``tests/unit/test_access_token_attacks.py`` did not already pin, grey-box:
tokens signed with the service's real key and any raw header or payload
bytes we like. Every one must end as an InvalidTokenError, never anything
else, and the answer to the resource server is always a 401."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from jwtwarden import FrozenClock, TokenService, Verifier
from jwtwarden.errors import BadSignatureError, ClaimsError, InvalidTokenError
from jwtwarden.tokens.access import _ALGORITHMS  # the same PyJWT objects the server uses
from tests.conftest import ServiceFactory

PASSWORD = "correct horse battery"
#: The order of P-256 (RFC 7518 §3.4, CVE-2022-21449).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def service(make_service: ServiceFactory, alg: str = "EdDSA") -> TokenService:
    svc = await make_service("memory", algorithm=alg)
    await svc.create_user("alice", PASSWORD, roles=["user"])
    return svc


def sign_raw(svc: TokenService, header: bytes, payload: bytes) -> str:
    key = svc.keys.signing_key()
    signing_input = f"{b64(header)}.{b64(payload)}"
    algorithm = _ALGORITHMS[key.alg]
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key.private))
    return f"{signing_input}.{b64(signature)}"


async def parts(svc: TokenService) -> tuple[str, dict[str, Any], dict[str, Any]]:
    token = (await svc.login("alice", PASSWORD)).access_token
    h, p, _ = token.split(".")
    return token, json.loads(unb64(h)), json.loads(unb64(p))


async def refused(svc: TokenService, token: str) -> InvalidTokenError:
    with pytest.raises(InvalidTokenError) as info:
        await svc.verify(token)
    return info.value


async def test_a6_psychic_and_malformed_ecdsa_signatures(make_service: ServiceFactory) -> None:
    svc = await service(make_service, "ES256")
    token, _, _ = await parts(svc)
    head, payload, signature = token.split(".")
    raw = unb64(signature)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    n = P256_N.to_bytes(32, "big")

    def der(r: int, s: int) -> bytes:
        def integer(v: int) -> bytes:
            b = v.to_bytes(33, "big").lstrip(b"\x00")
            b = b"\x00" + b if b[0] & 0x80 else b
            return b"\x02" + bytes([len(b)]) + b

        body = integer(r) + integer(s)
        return b"\x30" + bytes([len(body)]) + body

    for forged in (
        b"\x00" * 64,
        n + n,
        b"\x00" * 32 + raw[32:],
        der(r, s),
        raw[:63],
        raw + b"\x00",
    ):
        await refused(svc, f"{head}.{payload}.{b64(forged)}")


async def test_a7_the_high_s_twin_dies_with_the_original(make_service: ServiceFactory) -> None:
    svc = await service(make_service, "ES256")
    token, _, _ = await parts(svc)
    head, payload, signature = token.split(".")
    raw = unb64(signature)
    s = int.from_bytes(raw[32:], "big")
    twin = f"{head}.{payload}.{b64(raw[:32] + (P256_N - s).to_bytes(32, 'big'))}"
    await svc.revoke_access_token(token)
    await refused(svc, twin)  # accepted or not before, it is revoked now (jti)


async def test_a10_a_bad_signature_on_an_expired_token_says_bad_signature(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    svc = await service(make_service)
    token, _, _ = await parts(svc)
    clock.advance(3600)
    head, payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert isinstance(await refused(svc, f"{head}.{payload}.{flipped}"), BadSignatureError)


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../dev/null",
        "/dev/null",
        "/invalid_path",
        "x' UNION SELECT 'k';--",
        "' OR '1'='1",
        "|sleep 10",
        "$(sleep 10)",
        {},
        [],
        "k" * 10_240,
    ],
)
async def test_b4_b5_b6_a_hostile_kid_is_only_a_missing_key(
    make_service: ServiceFactory, kid: object
) -> None:
    svc = await service(make_service)
    _, header, claims = await parts(svc)
    import hashlib
    import hmac

    forged_header = b64(json.dumps({**header, "alg": "HS256", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    for key in (b"", b"k", b"1"):
        mac = hmac.new(key, f"{forged_header}.{body}".encode(), hashlib.sha256).digest()
        await refused(svc, f"{forged_header}.{body}.{b64(mac)}")


@pytest.mark.parametrize(
    "crit",
    [["foo"], [], "exp", ["exp"], ["b64"]],
    ids=["unknown", "empty", "not-a-list", "registered", "b64"],
)
async def test_b7_crit_is_refused(make_service: ServiceFactory, crit: object) -> None:
    svc = await service(make_service)
    _, header, claims = await parts(svc)
    extra = {"foo": 1} if crit == ["foo"] else {"b64": False} if crit == ["b64"] else {}
    token = sign_raw(
        svc, json.dumps({**header, "crit": crit, **extra}).encode(), json.dumps(claims).encode()
    )
    await refused(svc, token)


async def test_b8_other_jose_forms_are_refused(make_service: ServiceFactory) -> None:
    svc = await service(make_service)
    token, header, claims = await parts(svc)
    await refused(
        svc,
        sign_raw(svc, json.dumps({**header, "cty": "JWT"}).encode(), json.dumps(claims).encode())
        + "",
    )
    await refused(svc, "a.b.c.d.e")
    head, payload, signature = token.split(".")
    await refused(svc, json.dumps({"payload": payload, "protected": head, "signature": signature}))


async def test_c5_duplicate_header_members_never_select_none(make_service: ServiceFactory) -> None:
    svc = await service(make_service)
    _, header, claims = await parts(svc)
    payload = json.dumps(claims).encode()
    kid = json.dumps(header["kid"])
    for raw in (
        f'{{"alg":"EdDSA","alg":"none","kid":{kid},"typ":"at+jwt"}}',
        f'{{"alg":"none","alg":"EdDSA","kid":{kid},"typ":"at+jwt","typ":"JWT"}}',
    ):
        token = sign_raw(svc, raw.encode(), payload)
        with pytest.raises(InvalidTokenError):
            await svc.verify(token)


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b"null",
        b"1",
        b'"x"',
        b'{"exp": NaN}',
        b'{"exp": Infinity}',
        b'{"exp": 1e400}',
        b"\xc0\xaf",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["array", "null", "number", "string", "nan", "infinity", "1e400", "overlong-utf8", "deep"],
)
async def test_c6_malformed_json_behind_a_valid_signature(
    make_service: ServiceFactory, payload: bytes
) -> None:
    svc = await service(make_service)
    _, header, _ = await parts(svc)
    await refused(svc, sign_raw(svc, json.dumps(header).encode(), payload))
    await refused(svc, sign_raw(svc, payload, b"{}"))


async def test_d4_a_lifetime_longer_than_the_configured_one_is_refused(
    make_service: ServiceFactory,
) -> None:
    """A genuine signature over ``exp - iat`` beyond the access-token
    lifetime (300 s here) is refused by the service and by a Verifier told
    the lifetime; exactly the lifetime is accepted. Such a token would
    outlive the store's record of its revocation."""
    svc = await service(make_service)
    _, header, claims = await parts(svc)
    ttl = int(svc.policy.access_ttl)
    assert claims["exp"] - claims["iat"] == ttl

    def lasting(seconds: int) -> str:
        payload = {**claims, "exp": claims["iat"] + seconds}
        return sign_raw(svc, json.dumps(header).encode(), json.dumps(payload).encode())

    verifier = Verifier(
        issuer=svc.policy.issuer,
        audience=svc.policy.audience,
        keys=svc.keys.ring.keys,
        clock=svc.clock,
        max_lifetime=ttl,
    )
    for seconds in (ttl + 1, 10 * 365 * 86400):
        error = await refused(svc, lasting(seconds))
        assert isinstance(error, ClaimsError) and "lives longer" in str(error)
        with pytest.raises(ClaimsError, match="lives longer"):
            verifier.verify(lasting(seconds))
    assert (await svc.verify(lasting(ttl))).sub == claims["sub"]
    assert verifier.verify(lasting(ttl)).sub == claims["sub"]
    # Without max_lifetime (the default) a Verifier cannot know the issuer's
    # lifetime and judges exp alone.
    lenient = Verifier(
        issuer=svc.policy.issuer, audience=svc.policy.audience, keys=svc.keys.ring.keys,
        clock=svc.clock,
    )  # fmt: skip
    assert lenient.verify(lasting(ttl + 1)).sub == claims["sub"]
