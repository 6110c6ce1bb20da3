"""DPoP (RFC 9449) at the token endpoint and in browser mode, black-box:
binding, refusals with nothing changed, the settings that require DPoP or
nonces, the nonce header (and CORS exposing it), and the metadata."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from tests.dpop_keys import DpopKey
from tests.http.conftest import BASE, PASSWORD, Harness, MakeHarness

TOKEN = f"{BASE}/token"


def password_form(**extra: str) -> dict[str, str]:
    return {"grant_type": "password", "username": "alice", "password": PASSWORD, **extra}


async def post_token(h: Harness, form: dict[str, str], proof: str | None = None) -> httpx.Response:
    headers = {} if proof is None else {"dpop": proof}
    return await h.client.post("/token", data=form, headers=headers)


def claims_of(access_token: str) -> dict[str, Any]:
    return dict(jwt.decode(access_token, options={"verify_signature": False}))


async def test_a_proof_binds_the_tokens(h: Harness) -> None:
    key = DpopKey()
    r = await post_token(h, password_form(), key.proof(TOKEN, iat=h.clock.now()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
    refreshed = await post_token(
        h,
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        key.proof(TOKEN, iat=h.clock.now()),
    )
    assert refreshed.status_code == 200 and refreshed.json()["token_type"] == "DPoP"


async def test_without_a_proof_nothing_changes(h: Harness) -> None:
    body = await h.login()
    assert body["token_type"] == "Bearer" and "cnf" not in claims_of(body["access_token"])


@pytest.mark.parametrize(
    ("htu", "htm", "age"),
    [
        (f"{BASE}/revoke", "POST", 0),
        ("https://evil.test/token", "POST", 0),
        (TOKEN, "GET", 0),
        (TOKEN, "POST", 600),
    ],
    ids=["other-path", "other-host", "other-method", "stale"],
)
async def test_a_proof_for_another_request_is_refused_and_creates_nothing(
    h: Harness, htu: str, htm: str, age: float
) -> None:
    proof = DpopKey().proof(htu, htm, iat=h.clock.now() - age)
    r = await post_token(h, password_form(), proof)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    sub = (await h.service.find_user("alice")).sub
    assert await h.service.list_sessions(sub) == []


async def test_two_dpop_headers_are_refused(h: Harness) -> None:
    key = DpopKey()
    r = await h.client.post(
        "/token",
        data=password_form(),
        headers=[("dpop", key.proof(TOKEN, iat=h.clock.now())), ("dpop", key.proof(TOKEN))],
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"


async def test_a_bound_refresh_token_needs_its_key(h: Harness) -> None:
    owner = DpopKey()
    login = await post_token(h, password_form(), owner.proof(TOKEN, iat=h.clock.now()))
    rt = login.json()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": rt}
    for proof in (None, DpopKey().proof(TOKEN, iat=h.clock.now())):
        r = await post_token(h, form, proof)
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    assert (await post_token(h, form, owner.proof(TOKEN, iat=h.clock.now()))).status_code == 200


async def test_required_dpop_refuses_an_unbound_request(make_harness: MakeHarness) -> None:
    h = await make_harness(settings={"dpop_required": True})
    r = await post_token(h, password_form())
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "DPoP" in r.json()["error_description"]
    sub = (await h.service.find_user("alice")).sub
    assert await h.service.list_sessions(sub) == []
    ok = await post_token(h, password_form(), DpopKey().proof(TOKEN, iat=h.clock.now()))
    assert ok.status_code == 200 and ok.json()["token_type"] == "DPoP"


async def test_a_client_that_requires_dpop(h: Harness) -> None:
    client, _ = await h.service.create_client("spa", require_dpop=True)
    r = await post_token(h, password_form(client_id=client.client_id))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    proof = DpopKey().proof(TOKEN, iat=h.clock.now())
    assert (
        await post_token(h, password_form(client_id=client.client_id), proof)
    ).status_code == 200


async def test_nonces_are_demanded_and_sent_on_every_answer(make_harness: MakeHarness) -> None:
    h = await make_harness(settings={"dpop_nonces": True})
    key = DpopKey()
    r = await post_token(h, password_form(), key.proof(TOKEN, iat=h.clock.now()))
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce"
    nonce = r.headers["dpop-nonce"]
    ok = await post_token(h, password_form(), key.proof(TOKEN, iat=h.clock.now(), nonce=nonce))
    assert ok.status_code == 200 and ok.headers["dpop-nonce"] == nonce
    wrong = await post_token(
        h, password_form(password="wrong"), key.proof(TOKEN, nonce=nonce, iat=h.clock.now())
    )
    assert wrong.status_code == 400 and wrong.headers["dpop-nonce"] == nonce


async def test_browser_mode_binds_the_refresh_cookie(h: Harness) -> None:
    key = DpopKey()
    login = await h.client.post(
        "/session/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"dpop": key.proof(f"{BASE}/session/login", iat=h.clock.now())},
    )
    assert login.status_code == 200, login.text
    csrf, sid = login.json()["csrf_token"], login.json()["sid"]
    assert (await h.service.get_session(sid)).jkt == key.jkt
    headers = {"x-csrf-token": csrf, "origin": BASE}
    refused = await h.client.post("/session/refresh", headers=headers)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"
    assert (await h.service.get_session(sid)).generation == 0
    proof = key.proof(f"{BASE}/session/refresh", iat=h.clock.now())
    ok = await h.client.post("/session/refresh", headers={**headers, "dpop": proof})
    assert ok.status_code == 200, ok.text
    assert (await h.client.get("/me")).status_code == 200  # the access cookie stays bearer


async def test_cors_lets_a_front_end_send_proofs_and_read_the_nonce(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(settings={"allowed_origins": "https://app.example.test"})
    origin = {"origin": "https://app.example.test"}
    pre = await h.client.options(
        "/session/refresh",
        headers={**origin, "access-control-request-method": "POST",
                 "access-control-request-headers": "dpop"},
    )  # fmt: skip
    assert pre.status_code == 200 and "dpop" in pre.headers["access-control-allow-headers"].lower()
    r = await h.client.post("/session/refresh", headers=origin)
    assert "dpop-nonce" in r.headers["access-control-expose-headers"].lower()


async def test_metadata_names_the_proof_algorithms(h: Harness) -> None:
    meta = (await h.client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["dpop_signing_alg_values_supported"] == [
        "ES256", "EdDSA", "Ed25519", "RS256", "PS256"
    ]  # fmt: skip


async def test_openapi_documents_the_dpop_header(h: Harness) -> None:
    doc = (await h.client.get("/openapi.json")).json()
    for path in ("/token", "/session/login", "/session/refresh"):
        names = {p["name"] for p in doc["paths"][path]["post"].get("parameters", [])}
        assert "DPoP" in names, path


async def test_me_takes_a_bound_token_only_as_dpop_with_its_proof(h: Harness) -> None:
    from jwtwarden.tokens.dpop import access_token_hash

    key = DpopKey()
    login = await post_token(h, password_form(), key.proof(TOKEN, iat=h.clock.now()))
    at = login.json()["access_token"]
    me = f"{BASE}/me"

    async def get_me(scheme: str, proof: str | None) -> httpx.Response:
        headers = {"authorization": f"{scheme} {at}"}
        if proof is not None:
            headers["dpop"] = proof
        return await h.client.get("/me", headers=headers)

    good = key.proof(me, "GET", iat=h.clock.now(), ath=access_token_hash(at))
    ok = await get_me("DPoP", good)
    assert ok.status_code == 200 and ok.json()["cnf"] == {"jkt": key.jkt}
    replayed = await get_me("DPoP", good)
    # A resource's refusal (RFC 9449 §7.1): 401 with the DPoP challenge.
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_dpop_proof"
    assert replayed.headers["www-authenticate"].startswith("DPoP ")
    assert 'error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]
    as_bearer = await get_me("Bearer", None)
    assert as_bearer.status_code == 401 and "DPoP-bound" in as_bearer.json()["error_description"]
    for proof in (
        None,
        key.proof(me, "GET", iat=h.clock.now()),  # no ath
        DpopKey().proof(me, "GET", iat=h.clock.now(), ath=access_token_hash(at)),
        key.proof(f"{BASE}/sessions", "GET", iat=h.clock.now(), ath=access_token_hash(at)),
    ):
        refused = await get_me("DPoP", proof)
        assert refused.status_code in (400, 401), refused.text
    # An unbound token keeps working as Bearer, and is refused as DPoP.
    plain = (await h.login())["access_token"]
    assert (await h.client.get("/me", headers=h.bearer(plain))).status_code == 200
    r = await h.client.get("/me", headers={"authorization": f"DPoP {plain}"})
    assert r.status_code == 401


async def test_a_bound_access_token_cannot_log_its_owner_out_without_the_key(h: Harness) -> None:
    login = await post_token(h, password_form(), DpopKey().proof(TOKEN, iat=h.clock.now()))
    body = login.json()
    r = await h.client.post("/logout", headers=h.bearer(body["access_token"]))
    assert r.status_code == 401
    assert (await h.service.get_session(claims_of(body["access_token"])["sid"])).revoked_at is None
