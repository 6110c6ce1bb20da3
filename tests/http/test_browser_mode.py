"""Browser mode: tokens only in cookies, with the right attributes, and CSRF."""

from __future__ import annotations

import httpx
import pytest

from tests.http.conftest import BASE, PASSWORD, Harness, MakeHarness


async def browser_login(h: Harness, **headers: str) -> httpx.Response:
    r = await h.client.post(
        "/session/login", json={"username": "alice", "password": PASSWORD}, headers=headers
    )
    assert r.status_code == 200, r.text
    return r


def set_cookies(r: httpx.Response) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}


async def test_login_sets_hardened_cookies_and_no_token_in_the_body(h: Harness) -> None:
    r = await browser_login(h)
    body = r.json()
    assert set(body) == {"sub", "sid", "expires_in", "csrf_token"}
    cookies = set_cookies(r)
    at, rt, csrf = (
        cookies["__Host-jwtwarden-at"],
        cookies["__Secure-jwtwarden-rt"],
        cookies["__Host-jwtwarden-csrf"],
    )
    for token_cookie in (at, rt):
        assert token_cookie.split(";")[0].split("=", 1)[1] not in r.text
    assert "HttpOnly" in at and "Secure" in at and "SameSite=lax" in at and "Path=/" in at
    assert "Domain" not in at
    assert "HttpOnly" in rt and "Secure" in rt and "SameSite=strict" in rt
    assert "Path=/session/refresh" in rt
    assert "HttpOnly" not in csrf and "Secure" in csrf and "Path=/" in csrf


async def test_cookie_authenticates_me_and_sessions(h: Harness) -> None:
    await browser_login(h)
    me = await h.client.get("/me")
    assert me.status_code == 200 and me.json()["roles"] == ["user"]
    assert (await h.client.get("/sessions")).json()[0]["current"] is True


async def test_refresh_needs_the_sessions_csrf_token(h: Harness) -> None:
    r = await browser_login(h)
    csrf, sid = r.json()["csrf_token"], r.json()["sid"]
    before = (await h.service.get_session(sid)).generation
    for headers in (
        {},
        {"x-csrf-token": "forged"},
        {"x-csrf-token": csrf, "origin": "https://evil.test"},
        {"x-csrf-token": csrf, "sec-fetch-site": "cross-site"},
    ):
        refused = await h.client.post("/session/refresh", headers=headers)
        assert refused.status_code == 403, headers
    assert (await h.service.get_session(sid)).generation == before  # nothing changed
    ok = await h.client.post("/session/refresh", headers={"x-csrf-token": csrf, "origin": BASE})
    assert ok.status_code == 200 and "refresh_token" not in ok.text
    assert set(set_cookies(ok)) >= {"__Host-jwtwarden-at", "__Secure-jwtwarden-rt"}
    assert (await h.service.get_session(sid)).generation == before + 1


async def test_a_planted_csrf_cookie_cannot_satisfy_the_check(h: Harness) -> None:
    # Cookie tossing: a sibling subdomain sets its own csrf cookie and sends
    # the same value in the header. The token is checked against the session.
    await browser_login(h)
    h.client.cookies.set("__Host-jwtwarden-csrf", "attacker", domain="auth.example.test")
    r = await h.client.post("/logout", headers={"x-csrf-token": "attacker"})
    assert r.status_code == 403
    assert (await h.client.get("/me")).status_code == 200


@pytest.mark.parametrize("path", ["/logout", "/logout/all", "/session/logout"])
async def test_state_changing_cookie_routes_refuse_without_csrf(h: Harness, path: str) -> None:
    await browser_login(h)
    r = await h.client.post(path)
    assert r.status_code == 403
    assert (await h.client.get("/me")).status_code == 200


@pytest.mark.parametrize(
    "content,ctype",
    [
        (b"username=alice&password=x", "application/x-www-form-urlencoded"),
        (b'{"username": "alice", "password": "x"}', "text/plain"),
        (
            b"--b\r\nContent-Disposition: form-data; name=username\r\n\r\nalice\r\n--b--",
            "multipart/form-data; boundary=b",
        ),
    ],
    ids=["form", "text-plain", "multipart"],
)
async def test_login_refuses_what_a_cross_site_form_can_send(
    h: Harness, content: bytes, ctype: str
) -> None:
    r = await h.client.post("/session/login", content=content, headers={"content-type": ctype})
    assert r.status_code == 415
    assert "set-cookie" not in r.headers


async def test_login_from_a_foreign_origin_is_refused(h: Harness) -> None:
    r = await h.client.post(
        "/session/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"origin": "https://evil.test"},
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers


async def test_logout_ends_the_session_and_clears_cookies(h: Harness) -> None:
    r = await browser_login(h)
    csrf, sid = r.json()["csrf_token"], r.json()["sid"]
    out = await h.client.post("/session/logout", headers={"x-csrf-token": csrf})
    assert out.status_code == 204
    assert all(
        "Max-Age=0" in c or "expires=" in c.lower() for c in out.headers.get_list("set-cookie")
    )
    assert (await h.service.get_session(sid)).revoked_at is not None
    assert (await h.client.get("/me")).status_code == 401


async def test_logout_works_with_an_expired_access_cookie(h: Harness) -> None:
    r = await browser_login(h)
    csrf, sid = r.json()["csrf_token"], r.json()["sid"]
    h.clock.advance(h.service.policy.access_ttl + 5)
    assert (
        await h.client.post("/session/logout", headers={"x-csrf-token": csrf})
    ).status_code == 204
    assert (await h.service.get_session(sid)).revoked_at is not None


async def test_bearer_routes_with_cookie_and_csrf_work(h: Harness) -> None:
    r = await browser_login(h)
    h.clock.advance(1)
    out = await h.client.post(
        "/logout/all?keep_current=true", headers={"x-csrf-token": r.json()["csrf_token"]}
    )
    assert out.status_code == 204
    assert (await h.client.get("/me")).status_code == 200


async def test_insecure_cookies_drop_secure_and_prefixes(make_harness: MakeHarness) -> None:
    h = await make_harness(settings={"insecure_cookies": True})
    r = await browser_login(h)
    cookies = set_cookies(r)
    assert set(cookies) == {"jwtwarden-at", "jwtwarden-rt", "jwtwarden-csrf"}
    assert all("Secure" not in c for c in cookies.values())
    assert (await h.client.get("/me")).status_code == 200
