"""The "your devices" page and what its script needs from the server:
``/account`` and its assets, ``GET /session``, device names, and a browser
refresh that says when reuse ended the session."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.http.conftest import BASE, Harness
from tests.http.test_browser_mode import browser_login

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
RT = "__Secure-jwtwarden-rt"


async def test_the_page_has_a_strict_policy_and_nothing_inline(h: Harness) -> None:
    r = await h.client.get("/account")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    policy = r.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-cache"
    html = r.text
    # Every script has a src; no style element or attribute; no outside asset.
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert "<style" not in html and " style=" not in html and "http" not in html
    for label in ("Username", "Password", "Sign in", "Sign out all other devices"):
        assert label in html
    assert "<main" in html and "<header" in html


async def test_assets_are_cached_for_good_only_under_their_version(h: Harness) -> None:
    html = (await h.client.get("/account")).text
    versioned = re.findall(r'"(/account/[a-z.]+\?v=[0-9a-f]{16})"', html)
    assert {u.split("?")[0] for u in versioned} == {"/account/account.js", "/account/account.css"}
    for url in versioned:
        r = await h.client.get(url)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.headers["vary"] == "Origin"
    script = (await h.client.get(versioned[0] if "js" in versioned[0] else versioned[1])).text
    # The page imports the client by its versioned URL too.
    client_url = re.search(r'from "\./(jwtwarden\.js\?v=[0-9a-f]{16})"', script)
    assert client_url is not None
    assert (
        (await h.client.get(f"/account/{client_url[1]}"))
        .headers["cache-control"]
        .endswith("immutable")
    )
    plain = await h.client.get("/account/jwtwarden.js")
    assert plain.headers["cache-control"] == "no-cache"
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "export function createClient" in plain.text
    again = await h.client.get(
        "/account/jwtwarden.js", headers={"if-none-match": plain.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    stale = await h.client.get("/account/jwtwarden.js?v=0000000000000000")
    assert stale.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("name", ["index.html", "..%2F..%2Fsettings.py", "nope.js", "account.JS"])
async def test_unknown_assets_are_a_json_404(h: Harness, name: str) -> None:
    r = await h.client.get(f"/account/{name}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_sessions_name_each_device(h: Harness) -> None:
    await h.login(**{"user-agent": SAFARI_IPHONE})
    await h.login(**{"user-agent": "curl/8.5.0"})
    await h.login(**{"user-agent": "\x00\x01"})
    await browser_login(h, **{"user-agent": CHROME_LINUX})
    listed = (await h.client.get("/sessions")).json()
    assert [s["device"] for s in listed] == [
        "Mobile Safari on iOS",
        "curl",
        "Unknown device",
        "Chrome on Linux",
    ]
    assert [s["current"] for s in listed] == [False, False, False, True]


async def test_session_state_tells_the_script_what_it_cannot_read(h: Harness) -> None:
    assert (await h.client.get("/session")).status_code == 401
    login = (await browser_login(h)).json()
    r = await h.client.get("/session")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json() == {
        "sub": login["sub"],
        "sid": login["sid"],
        "expires_in": 300,
        "csrf_token": login["csrf_token"],
    }
    h.clock.advance(301)  # expired: the script must still learn it can refresh
    assert (await h.client.get("/session")).json()["expires_in"] == 0
    assert (
        await h.client.get("/session", headers={"origin": "https://evil.test"})
    ).status_code == 403
    h.client.cookies.set("__Host-jwtwarden-at", "garbage", domain="auth.example.test")
    assert (await h.client.get("/session")).status_code == 401


def _cleared(r: httpx.Response) -> set[str]:
    return {
        c.split("=", 1)[0]
        for c in r.headers.get_list("set-cookie")
        if "Max-Age=0" in c or "expires=Thu, 01 Jan 1970" in c
    }


async def test_reuse_is_named_and_every_later_refresh_of_that_session_says_so(h: Harness) -> None:
    login = (await browser_login(h)).json()
    csrf = {"x-csrf-token": login["csrf_token"], "origin": BASE}
    stolen = h.client.cookies.get(RT)
    assert (await h.client.post("/session/refresh", headers=csrf)).status_code == 200
    h.clock.advance(1)
    assert (await h.client.post("/session/refresh", headers=csrf)).status_code == 200
    latest = h.client.cookies.get(RT)
    # The thief presents the copy, two generations old.
    thief = httpx.AsyncClient(transport=h.client._transport, base_url=BASE)
    thief.cookies.set(RT, stolen, domain="auth.example.test", path="/session/refresh")
    r = await thief.post("/session/refresh", headers=csrf)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant" and r.json()["session_ended"] == "reuse"
    assert {"__Host-jwtwarden-at", RT, "__Host-jwtwarden-csrf"} <= _cleared(r)
    # The owner's newest token: the session is gone, and it says why.
    h.client.cookies.set(RT, latest, domain="auth.example.test", path="/session/refresh")
    owner = await h.client.post("/session/refresh", headers=csrf)
    assert owner.status_code == 400 and owner.json()["session_ended"] == "reuse"
    assert (await h.client.get("/me")).status_code == 401
    # A forged token naming that session learns nothing (property 2).
    sid, generation, _mac = latest.split(".")
    h.client.cookies.set(
        RT, f"{sid}.{generation}.{'A' * 43}", domain="auth.example.test", path="/session/refresh"
    )
    forged = await h.client.post("/session/refresh", headers=csrf)
    assert forged.status_code == 400 and "session_ended" not in forged.json()
    await thief.aclose()


async def test_a_session_ended_otherwise_is_plain_invalid_grant(h: Harness) -> None:
    login = (await browser_login(h)).json()
    csrf = {"x-csrf-token": login["csrf_token"], "origin": BASE}
    await h.service.revoke_session(login["sid"], reason="logout")
    r = await h.client.post("/session/refresh", headers=csrf)
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_grant",
        "error_description": r.json()["error_description"],
    }
    assert RT in _cleared(r)


async def test_an_expired_session_is_plain_invalid_grant_and_clears_the_cookies(
    h: Harness,
) -> None:
    login = (await browser_login(h)).json()
    csrf = {"x-csrf-token": login["csrf_token"], "origin": BASE}
    h.clock.advance(1_209_601)  # past the idle timeout
    r = await h.client.post("/session/refresh", headers=csrf)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "session_ended" not in r.json()
    assert {"__Host-jwtwarden-at", RT, "__Host-jwtwarden-csrf"} <= _cleared(r)
