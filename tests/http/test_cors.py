"""CORS for the front ends in ``allowed_origins``: their own name back with
credentials on the browser routes, never ``*``, nothing for anyone else or
for the RFC and admin routes; CSRF still asked of them."""

from __future__ import annotations

import pytest

from jwtwarden import Settings
from jwtwarden.errors import ConfigurationError
from jwtwarden.server import create_app
from tests.http.conftest import PASSWORD, Harness, MakeHarness

APP = "https://app.example.test"


@pytest.fixture
async def spa(make_harness: MakeHarness) -> Harness:
    return await make_harness(settings={"allowed_origins": f"{APP}, https://admin.example.test/"})


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": "content-type, x-csrf-token",
    }


@pytest.mark.parametrize(
    "path", ["/session/login", "/session/refresh", "/sessions/abc", "/password"]
)
async def test_a_listed_origin_is_answered_with_its_own_name(spa: Harness, path: str) -> None:
    r = await spa.client.options(
        path, headers=preflight(APP, "DELETE" if "abc" in path else "POST")
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "x-csrf-token" in r.headers["access-control-allow-headers"].lower()
    assert "Origin" in r.headers["vary"]


@pytest.mark.parametrize(
    ("path", "method"), [("/token", "POST"), ("/revoke", "POST"), ("/me", "GET")]
)
async def test_a_bearer_mode_front_end_may_send_dpop_and_read_the_nonce(
    spa: Harness, path: str, method: str
) -> None:
    """A single-page app holding DPoP-bound tokens (clients/js/dpop.js)
    sends ``Authorization`` and ``DPoP`` and reads ``DPoP-Nonce``."""
    headers = {**preflight(APP, method), "access-control-request-headers": "authorization, dpop"}
    r = await spa.client.options(path, headers=headers)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "dpop" in allowed
    answer = await spa.client.post(
        "/token", data={"grant_type": "password"}, headers={"origin": APP}
    )
    assert answer.headers["access-control-allow-origin"] == APP
    assert "dpop-nonce" in answer.headers["access-control-expose-headers"].lower()


async def test_the_trailing_slash_of_a_listed_origin_does_not_matter(spa: Harness) -> None:
    r = await spa.client.options("/me", headers=preflight("https://admin.example.test", "GET"))
    assert r.headers["access-control-allow-origin"] == "https://admin.example.test"


@pytest.mark.parametrize(
    "origin",
    ["https://evil.test", "null", "https://app.example.test.evil.test", "http://app.example.test"],
)
async def test_any_other_origin_gets_no_cors_at_all(spa: Harness, origin: str) -> None:
    r = await spa.client.options("/session/login", headers=preflight(origin))
    assert "access-control-allow-origin" not in r.headers
    assert r.status_code < 500  # whatever OPTIONS answers, it grants nothing
    login = await spa.client.post(
        "/session/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"origin": origin},
    )
    assert login.status_code == 403 and "access-control-allow-origin" not in login.headers


@pytest.mark.parametrize("path", ["/introspect", "/admin/users"])
async def test_introspection_and_admin_routes_are_never_cross_origin(
    spa: Harness, path: str
) -> None:
    r = await spa.client.options(path, headers=preflight(APP))
    assert "access-control-allow-origin" not in r.headers


async def test_a_listed_front_end_signs_in_refreshes_and_still_needs_csrf(spa: Harness) -> None:
    headers = {"origin": APP, "sec-fetch-site": "same-site"}
    login = await spa.client.post(
        "/session/login", json={"username": "alice", "password": PASSWORD}, headers=headers
    )
    assert login.status_code == 200
    assert login.headers["access-control-allow-origin"] == APP
    assert login.headers["access-control-allow-credentials"] == "true"
    state = await spa.client.get("/session", headers=headers)
    assert state.headers["access-control-allow-origin"] == APP
    csrf = state.json()["csrf_token"]
    refused = await spa.client.post("/session/refresh", headers=headers)
    assert refused.status_code == 403
    ok = await spa.client.post("/session/refresh", headers={**headers, "x-csrf-token": csrf})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == APP
    assert "*" not in ok.headers["access-control-allow-origin"]


async def test_without_the_setting_no_route_answers_cors(h: Harness) -> None:
    r = await h.client.options("/session/login", headers=preflight(APP))
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    "value",
    ["*", "https://*.example.test", "https://app.example.test/path", "ftp://x.test", "app.test"],
)
async def test_a_setting_that_is_not_a_list_of_origins_is_refused_at_start(
    make_harness: MakeHarness, value: str
) -> None:
    h = await make_harness()
    with pytest.raises(ConfigurationError, match="JWTWARDEN_ALLOWED_ORIGINS"):
        create_app(h.service, Settings(store="memory://", allowed_origins=value))
