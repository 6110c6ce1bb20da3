"""Entries of the attack catalogue (SECURITY.md §2) that had no test of
their own, as black-box HTTP tests; the IDs are the catalogue's. The ones
marked "gap" failed before the fix that came with them (docs/security.md)."""

from __future__ import annotations

import httpx
import pytest

from tests.http.conftest import PASSWORD, Harness, MakeHarness

AT, RT, CSRF = "__Host-jwtwarden-at", "__Secure-jwtwarden-rt", "__Host-jwtwarden-csrf"


async def browser_login(h: Harness, **headers: str) -> httpx.Response:
    r = await h.client.post(
        "/session/login", json={"username": "alice", "password": PASSWORD}, headers=headers
    )
    assert r.status_code == 200, r.text
    return r


async def test_c3_oversized_tokens_are_refused_quickly_and_issued_ones_fit_a_cookie(
    h: Harness,
) -> None:
    for size in (16 * 1024, 64 * 1024, 1024 * 1024):
        r = await h.client.get("/me", headers={"authorization": "Bearer " + "A" * size})
        assert r.status_code in (400, 401, 413, 431)
    r = await browser_login(h)
    assert all(len(c) < 4096 for c in r.headers.get_list("set-cookie"))
    h.client.cookies.set(AT, "A" * 64 * 1024, domain="auth.example.test")
    assert (await h.client.get("/me")).status_code == 401


async def test_c8_one_documented_source_of_the_access_token(h: Harness) -> None:
    tokens = await h.login()
    at = tokens["access_token"]
    # The scheme is case-insensitive (RFC 9110 §11.1).
    assert (await h.client.get("/me", headers={"authorization": "bearer " + at})).status_code == 200
    # Never from the query string (RFC 6750 §2.3).
    assert (await h.client.get(f"/me?access_token={at}")).status_code == 401
    # Header and cookie disagree: the header wins (documented), whatever the cookie holds.
    h.client.cookies.set(AT, "garbage", domain="auth.example.test")
    assert (await h.client.get("/me", headers=h.bearer(at))).status_code == 200


async def test_e17_introspection_of_dead_tokens_is_inactive_and_not_cached(h: Harness) -> None:
    client, secret = await h.service.create_client("orders-api")
    auth = (client.client_id, secret)
    revoked, expired, banned = await h.login(), await h.login(), await h.login()
    await h.client.post("/logout", headers=h.bearer(revoked["access_token"]))
    r = await h.client.post("/introspect", data={"token": revoked["access_token"]}, auth=auth)
    assert r.json() == {"active": False} and r.headers["cache-control"] == "no-store"
    h.clock.advance(1)  # a ban kills every token issued before it
    await h.service.ban((await h.service.find_user("alice")).sub, h.clock.now() + 60)
    r = await h.client.post("/introspect", data={"token": banned["access_token"]}, auth=auth)
    assert r.json() == {"active": False}
    h.clock.advance(h.service.policy.access_ttl + 1)
    r = await h.client.post("/introspect", data={"token": expired["access_token"]}, auth=auth)
    assert r.json() == {"active": False}


async def test_e18_logout_is_idempotent_and_works_with_an_expired_token(h: Harness) -> None:
    # Gap: the second logout was 401 (the token's session had ended).
    tokens = await h.login()
    assert (
        await h.client.post("/logout", headers=h.bearer(tokens["access_token"]))
    ).status_code == 204
    assert (
        await h.client.post("/logout", headers=h.bearer(tokens["access_token"]))
    ).status_code == 204
    assert (await h.refresh(tokens["refresh_token"])).status_code == 400
    later = await h.login()
    h.clock.advance(h.service.policy.access_ttl + 1)
    assert (
        await h.client.post("/logout", headers=h.bearer(later["access_token"]))
    ).status_code == 204
    assert (await h.refresh(later["refresh_token"])).status_code == 400
    # A forged token still ends nothing.
    assert (await h.client.post("/logout", headers=h.bearer("a.b.c"))).status_code == 401


@pytest.mark.parametrize("order", ["planted_first", "planted_last"])
async def test_f5_a_tossed_refresh_cookie_is_refused_whatever_its_order(
    h: Harness, order: str
) -> None:
    # Gap: the parser kept the last copy, so the answer hung on the order.
    r = await browser_login(h)
    csrf, sid = r.json()["csrf_token"], r.json()["sid"]
    mine = r.cookies[RT]
    planted = (await browser_login(h)).cookies[RT]  # the attacker's own session
    h.client.cookies.clear()
    pair = [f"{RT}={planted}", f"{RT}={mine}"]
    if order == "planted_last":
        pair.reverse()
    before = (await h.service.get_session(sid)).generation
    r = await h.client.post(
        "/session/refresh", headers={"x-csrf-token": csrf, "cookie": "; ".join(pair)}
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert (await h.service.get_session(sid)).generation == before


async def test_f6_refresh_by_get_head_or_preflight_rotates_nothing(h: Harness) -> None:
    r = await browser_login(h)
    sid = r.json()["sid"]
    for method in ("GET", "HEAD", "OPTIONS"):
        r = await h.client.request(
            method,
            "/session/refresh",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert r.status_code == 405
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers
    assert (await h.service.get_session(sid)).generation == 0


async def test_f7_f8_origin_null_and_cross_site_login_or_logout_are_refused(h: Harness) -> None:
    for origin in ("null", "https://evil.example", "https://evil.auth.example.test"):
        r = await h.client.post(
            "/session/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"origin": origin},
        )
        assert r.status_code == 403, origin
    r = await browser_login(h)
    csrf = r.json()["csrf_token"]
    r = await h.client.post("/session/logout", headers={"x-csrf-token": csrf, "origin": "null"})
    assert r.status_code == 403


async def test_g6_login_never_adopts_a_planted_session(h: Harness) -> None:
    first = await browser_login(h)
    planted_sid = first.json()["sid"]
    second = await browser_login(h)  # the planted cookies are sent along
    assert second.json()["sid"] != planted_sid
    assert second.cookies[RT] != first.cookies[RT]


async def test_a_malformed_content_length_is_a_400_not_a_413(h: Harness) -> None:
    r = await h.client.post(
        "/token",
        content=b"grant_type=password",
        headers={"content-type": "application/x-www-form-urlencoded", "content-length": "abc"},
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256", "HS256"])
async def test_h1_h2_the_jwks_holds_only_public_signing_keys(
    make_harness: MakeHarness, alg: str
) -> None:
    import base64

    h = await make_harness(algorithm=alg)
    await h.service.rotate_keys()
    r = await h.client.get("/.well-known/jwks.json")
    assert r.headers["content-type"].startswith(("application/json", "application/jwk-set+json"))
    assert "max-age=" in r.headers["cache-control"]
    keys = r.json()["keys"]
    private = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
    assert len({k["kid"] for k in keys}) == len(keys)
    for key in keys:
        assert key["kty"] != "oct" and not private & set(key)
        assert key["use"] == "sig" and key["alg"] == alg and key["kid"]
        if key["kty"] == "RSA":
            n = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            assert len(n) * 8 >= 2048
    if alg == "HS256":
        assert keys == []  # a shared secret is never published
