"""The RFC endpoints: token (6749), revocation (7009), introspection (7662),
metadata (8414), JWKS."""

from __future__ import annotations

import base64

import jwt
import pytest

from tests.http.conftest import BASE, PASSWORD, Harness, MakeHarness


def _no_store(r) -> None:  # type: ignore[no-untyped-def]
    assert r.headers["cache-control"] == "no-store"


async def test_password_grant_answers_per_rfc6749_5_1(h: Harness) -> None:
    r = await h.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    _no_store(r)
    assert r.headers["pragma"] == "no-cache"


@pytest.mark.parametrize(
    "data,status,error",
    [
        ({"username": "alice", "password": PASSWORD}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "alice"}, 400, "invalid_request"),
        (
            {"grant_type": "password", "username": "alice", "password": "wrong"},
            400,
            "invalid_grant",
        ),
        (
            {"grant_type": "password", "username": "nobody", "password": PASSWORD},
            400,
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "garbage"}, 400, "invalid_grant"),
    ],
    ids=[
        "no-grant",
        "unsupported",
        "no-password",
        "wrong-password",
        "unknown-user",
        "no-rt",
        "bad-rt",
    ],
)
async def test_token_endpoint_errors_per_rfc6749_5_2(
    h: Harness, data: dict[str, str], status: int, error: str
) -> None:
    r = await h.client.post("/token", data=data)
    assert (r.status_code, r.json()["error"]) == (status, error)
    assert set(r.json()) == {"error", "error_description"}
    _no_store(r)
    assert h.service.store._sessions == {}  # type: ignore[attr-defined]  # nothing changed


async def test_unknown_user_and_wrong_password_look_the_same(h: Harness) -> None:
    a = await h.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": "wrong"}
    )
    b = await h.client.post(
        "/token", data={"grant_type": "password", "username": "nobody", "password": "wrong"}
    )
    assert (a.status_code, a.json()) == (b.status_code, b.json())


@pytest.mark.parametrize(
    "content,content_type,status",
    [
        (b"grant_type=password&grant_type=refresh_token", "application/x-www-form-urlencoded", 400),
        (b'{"grant_type": "password"}', "application/json", 415),
        (b"grant_type=password", "text/plain", 415),
        (b"grant_type=password", None, 415),
        (b"\xff\xfe\x00binary", "application/x-www-form-urlencoded", 400),
        (b"grant_type=" + b"p" * 9000, "application/x-www-form-urlencoded", 400),
        (b"a=" + b"x" * 70_000, "application/x-www-form-urlencoded", 413),
        (b"&".join(b"f%d=1" % i for i in range(100)), "application/x-www-form-urlencoded", 400),
    ],
    ids=["repeated", "json", "text", "no-type", "binary", "long-field", "huge", "many-fields"],
)
async def test_malformed_token_requests_are_refused_cleanly(
    h: Harness, content: bytes, content_type: str | None, status: int
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = await h.client.post("/token", content=content, headers=headers)
    assert r.status_code == status
    assert r.json()["error"] == "invalid_request"


async def test_a_lying_content_length_is_still_bounded(h: Harness) -> None:
    async def body():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 1024

    r = await h.client.post(
        "/token", content=body(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413


async def test_refresh_grant_rotates_and_reuse_kills_the_session(h: Harness) -> None:
    first = await h.login()
    second = await h.refresh(first["refresh_token"])
    assert second.status_code == 200
    h.clock.advance(60)
    replay = await h.refresh(first["refresh_token"])
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert (await h.refresh(second.json()["refresh_token"])).status_code == 400
    r = await h.client.get("/me", headers=h.bearer(second.json()["access_token"]))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_failed_logins_get_429_with_retry_after_even_for_the_right_password(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(login_max_failures=3)
    for _ in range(3):
        r = await h.client.post(
            "/token", data={"grant_type": "password", "username": "alice", "password": "guess"}
        )
        assert r.status_code == 400
    r = await h.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    h.clock.advance(int(r.headers["retry-after"]))
    await h.login()


async def test_a_spoofed_forwarded_for_changes_nothing(make_harness: MakeHarness) -> None:
    h = await make_harness(login_max_failures=2)
    for i in range(2):
        await h.client.post(
            "/token",
            data={"grant_type": "password", "username": "alice", "password": "guess"},
            headers={"x-forwarded-for": f"10.0.0.{i}"},
        )
    r = await h.client.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers={"x-forwarded-for": "10.9.9.9"},
    )
    assert r.status_code == 429


async def test_forwarded_for_is_believed_from_a_trusted_proxy(make_harness: MakeHarness) -> None:
    h = await make_harness(settings={"trusted_proxies": "192.0.2.0/24"})
    tokens = await h.login(**{"x-forwarded-for": "203.0.113.50, 192.0.2.99"})
    sessions = (await h.client.get("/sessions", headers=h.bearer(tokens["access_token"]))).json()
    assert sessions[0]["ip"] == "203.0.113.50"


async def test_revocation_endpoint(h: Harness) -> None:
    a, b = await h.login(), await h.login()
    r = await h.client.post(
        "/revoke", data={"token": a["refresh_token"], "token_type_hint": "refresh_token"}
    )
    assert r.status_code == 200
    assert (await h.client.get("/me", headers=h.bearer(a["access_token"]))).status_code == 401
    r = await h.client.post("/revoke", data={"token": b["access_token"]})
    assert r.status_code == 200
    assert (await h.client.get("/me", headers=h.bearer(b["access_token"]))).status_code == 401
    assert (await h.refresh(b["refresh_token"])).status_code == 200  # session lives on
    assert (await h.client.post("/revoke", data={"token": "unknown"})).status_code == 200
    r = await h.client.post("/revoke", data={"token_type_hint": "access_token"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


async def test_introspection_needs_client_credentials(h: Harness) -> None:
    client, secret = await h.service.create_client("orders-api")
    tokens = await h.login()
    r = await h.client.post("/introspect", data={"token": tokens["access_token"]})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert r.json()["error"] == "invalid_client"
    r = await h.client.post(
        "/introspect", data={"token": tokens["access_token"]}, auth=(client.client_id, secret + "x")
    )
    assert r.status_code == 401
    for bad in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer x"):
        r = await h.client.post("/introspect", data={"token": "x"}, headers={"authorization": bad})
        assert r.status_code == 401
    r = await h.client.post(
        "/introspect", data={"token": tokens["access_token"]}, auth=(client.client_id, secret)
    )
    assert r.status_code == 200 and r.json()["active"] is True
    me = (await h.client.get("/me", headers=h.bearer(tokens["access_token"]))).json()
    assert r.json()["sub"] == me["sub"] and r.json()["token_type"] == "access_token"
    r = await h.client.post(
        "/introspect", data={"token": tokens["refresh_token"]}, auth=(client.client_id, secret)
    )
    # Refresh tokens are for the authorization server only (RFC 9700 §4.14).
    assert r.json() == {"active": False}
    r = await h.client.post(
        "/introspect", data={"token": "nonsense"}, auth=(client.client_id, secret)
    )
    assert r.json() == {"active": False}


async def test_metadata_and_jwks(h: Harness) -> None:
    meta = (await h.client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == BASE
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"):
        assert meta[name].startswith(BASE + "/")
    assert meta["grant_types_supported"] == [
        "password",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ]
    jwks = (await h.client.get(meta["jwks_uri"].removeprefix(BASE))).json()
    tokens = await h.login()
    header = jwt.get_unverified_header(tokens["access_token"])
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        tokens["access_token"],
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience="jwtwarden",
        issuer=BASE,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sid"]


async def test_the_revocation_feed_needs_client_credentials(h: Harness) -> None:
    r = await h.client.get("/revocations")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    r = await h.client.get("/revocations", auth=("rs_nobody", "wrong"))
    assert r.status_code == 401
