"""The JWT-bearer grant (RFC 7523) at ``POST /token``: a registered backend
client starts a session for its own user; every refusal the RFC and the
issue name, with nothing created."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from jwtwarden.core.clients import Client, derived_client_secret
from jwtwarden.errors import InvalidRequestError
from jwtwarden.events import Event
from tests.http.conftest import BASE, Harness

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

KEYS: dict[str, Any] = {
    "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
}
TO_JWK = {"EdDSA": OKPAlgorithm, "ES256": ECAlgorithm, "RS256": RSAAlgorithm}


def public_jwk(alg: str, kid: str = "k1") -> dict[str, Any]:
    jwk = TO_JWK[alg].to_jwk(KEYS[alg].public_key(), as_dict=True)
    return {**jwk, "kid": kid}


async def register(h: Harness, alg: str = "EdDSA", roles: tuple[str, ...] = ("user",)) -> Client:
    jwks = None if alg == "HS256" else {"keys": [public_jwk(alg)]}
    client, _ = await h.service.create_client(
        f"backend-{secrets.token_hex(3)}", issues_sessions=True, session_roles=roles, jwks=jwks
    )
    return client


def claims_for(h: Harness, client: Client, **overrides: Any) -> dict[str, Any]:
    now = int(h.clock.now())
    claims: dict[str, Any] = {
        "iss": client.client_id,
        "sub": "app-user-7",
        "aud": f"{BASE}/token",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(h: Harness, client: Client, alg: str = "EdDSA", headers: Any = None, **kw: Any) -> str:
    if alg == "HS256":
        key: Any = derived_client_secret(h.service.keys.ring.mac_secret, client.client_id)
    else:
        key = KEYS[alg]
    return jwt.encode(claims_for(h, client, **kw), key, algorithm=alg, headers=headers)


async def grant(h: Harness, assertion: str, scope: str | None = None) -> Any:
    data = {"grant_type": GRANT, "assertion": assertion}
    if scope is not None:
        data["scope"] = scope
    return await h.client.post("/token", data=data)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256", "HS256"])
async def test_a_backend_starts_a_session_for_its_user(
    h: Harness, alg: str, events: list[Event]
) -> None:
    client = await register(h, alg, roles=("user", "staff"))
    r = await grant(h, sign(h, client, alg), scope="user staff")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    claims = await h.service.verify(body["access_token"])
    assert (claims.sub, claims.roles, claims.client_id) == (
        "app-user-7",
        ("user", "staff"),
        client.client_id,
    )
    login = events[-1]
    assert login.kind == "login" and login.detail["client_id"] == client.client_id
    r = await h.refresh(body["refresh_token"])
    assert r.status_code == 200


async def test_the_issuer_is_an_audience_too(h: Harness) -> None:
    client = await register(h)
    r = await grant(h, sign(h, client, aud=[BASE, "https://elsewhere.example"]), scope="user")
    assert r.status_code == 200, r.text


def _with_none_alg(token: str) -> str:
    _, payload, _ = token.split(".")
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    return f"{header}.{payload}."


def _hs256_with_public_key(h: Harness, client: Client) -> str:
    # Algorithm confusion: the public key's bytes as an HMAC secret.
    pem = (
        KEYS["RS256"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    payload = jwt.utils.base64url_encode(json.dumps(claims_for(h, client)).encode()).decode()
    header = jwt.utils.base64url_encode(b'{"alg":"HS256"}').decode()
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{jwt.utils.base64url_encode(mac).decode()}"


REFUSED = {
    "wrong-aud": lambda h, c: sign(h, c, aud="https://other.example/token"),
    "expired": lambda h, c: sign(h, c, exp=int(h.clock.now()) - 1),
    "no-exp": lambda h, c: sign(h, c, exp=None),
    "lives-too-long": lambda h, c: sign(h, c, exp=int(h.clock.now()) + 3600),
    "iat-future": lambda h, c: sign(h, c, iat=int(h.clock.now()) + 120),
    "nbf-future": lambda h, c: sign(h, c, nbf=int(h.clock.now()) + 120),
    "no-jti": lambda h, c: sign(h, c, jti=None),
    "no-sub": lambda h, c: sign(h, c, sub=None),
    "bad-sub": lambda h, c: sign(h, c, sub="has space"),
    "other-key": lambda h, c: jwt.encode(
        claims_for(h, c), ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA"
    ),
    "alg-none": lambda h, c: _with_none_alg(sign(h, c)),
    "jku-header": lambda h, c: sign(h, c, headers={"jku": "https://evil.example/jwks"}),
    "not-a-jwt": lambda h, c: "not.a.jwt",
    "garbage": lambda h, c: "x" * 5000,
}


@pytest.mark.parametrize("make", list(REFUSED.values()), ids=list(REFUSED))
async def test_refused_assertions_are_invalid_grant_and_create_nothing(
    h: Harness, make: Any
) -> None:
    client = await register(h)
    users_before = await h.service.store.list_users()
    r = await grant(h, make(h, client))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"
    assert await h.service.store.list_users() == users_before


async def test_an_rs256_client_refuses_hs256_signed_with_its_public_key(h: Harness) -> None:
    client = await register(h, "RS256")
    r = await grant(h, _hs256_with_public_key(h, client))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


async def test_a_replayed_jti_is_refused(h: Harness, events: list[Event]) -> None:
    client = await register(h)
    assertion = sign(h, client)
    assert (await grant(h, assertion)).status_code == 200
    h.clock.advance(5)
    r = await grant(h, assertion)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    assert events[-1].kind == "login_failed"
    assert events[-1].detail == {"reason": "replay", "client_id": client.client_id}
    assert len(await h.service.list_sessions("app-user-7")) == 1


async def test_an_unregistered_issuer_is_invalid_client(h: Harness) -> None:
    client = await register(h)
    ghost = Client("rs_ghost", "ghost", "", 0.0, True)
    r = await grant(h, sign(h, ghost))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    # A resource server's credentials do not start sessions either.
    plain, _ = await h.service.create_client("orders-api")
    r = await grant(h, sign(h, plain))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    assert await h.service.store.get_user("app-user-7") is None
    assert client.issues_sessions


async def test_roles_beyond_the_clients_are_invalid_scope(h: Harness) -> None:
    client = await register(h, roles=("user",))
    assertion = sign(h, client)
    r = await grant(h, assertion, scope="user admin")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    assert await h.service.store.get_user("app-user-7") is None
    # The refused request did not spend the assertion.
    assert (await grant(h, assertion, scope="user")).status_code == 200


async def test_a_password_account_cannot_be_taken_over(h: Harness) -> None:
    client = await register(h, roles=("admin",))
    alice = await h.service.find_user("alice")
    r = await grant(h, sign(h, client, sub=alice.sub), scope="admin")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    assert await h.service.list_sessions(alice.sub) == []


async def test_a_missing_assertion_is_invalid_request(h: Harness) -> None:
    r = await h.client.post("/token", data={"grant_type": GRANT})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


async def test_registration_takes_public_keys_only(h: Harness) -> None:
    private = OKPAlgorithm.to_jwk(KEYS["EdDSA"], as_dict=True)

    with pytest.raises(InvalidRequestError, match="public keys only"):
        await h.service.create_client("leaky", issues_sessions=True, jwks=private)
    with pytest.raises(InvalidRequestError):
        await h.service.create_client(
            "sym", issues_sessions=True, jwks={"kty": "oct", "k": "c2VjcmV0"}
        )
    with pytest.raises(InvalidRequestError):  # keys without the right to use them
        await h.service.create_client("rs", jwks={"keys": [public_jwk("EdDSA")]})
