"""The eight defects of issue 9, each as the attack that found it, from
outside (HTTP only), and the four decisions taken on the open points."""

from __future__ import annotations

import base64
import logging
from typing import Any

import httpx
import pytest

from jwtwarden.server.access_log import LOG_FORMAT
from tests.http.conftest import BASE, PASSWORD, Harness, MakeHarness

NUL = "\x00"


async def make_client(h: Harness) -> tuple[str, str]:
    client, secret = await h.service.create_client("orders-api")
    return client.client_id, secret


def one_line_each(records: list[logging.LogRecord]) -> list[str]:
    """Each record formatted with the plain stdlib formatter (so the
    quoting at the call sites is what is tested), and checked to be one line."""
    formatter = logging.Formatter(LOG_FORMAT)
    lines = [formatter.format(r) for r in records]
    for line in lines:
        assert line.splitlines() == [line], repr(line)
        assert "\x1b" not in line and NUL not in line, repr(line)
    return lines


# 1. The RFC 7662 hint hides a live token.


async def test_a_wrong_token_type_hint_does_not_hide_a_live_access_token(h: Harness) -> None:
    client_id, secret = await make_client(h)
    tokens = await h.login()
    for hint in ("refresh_token", "access_token", "junk", None):
        data = {"token": tokens["access_token"]} | ({"token_type_hint": hint} if hint else {})
        r = await h.client.post("/introspect", data=data, auth=(client_id, secret))
        assert r.status_code == 200 and r.json()["active"] is True, hint
        assert r.json()["token_type"] == "access_token"


# 2. A banned account confirms the password.


async def test_a_banned_account_answers_the_right_password_like_a_wrong_one(
    any_store: str, make_harness: MakeHarness
) -> None:
    h = await make_harness(any_store)
    user = await h.service.find_user("alice")
    await h.service.ban(user.sub, h.clock.now() + 3600)
    answers = []
    for password in (PASSWORD, "wrong password", PASSWORD):
        r = await h.client.post(
            "/token", data={"grant_type": "password", "username": "alice", "password": password}
        )
        answers.append((r.status_code, r.json(), r.headers.get("retry-after")))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][:2] == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid username or password."},
    )
    # Browser login too: same status, same body.
    r = await h.client.post("/session/login", json={"username": "alice", "password": PASSWORD})
    assert (r.status_code, r.json()) == answers[0][:2]


# 3. The access log can be forged.


async def test_an_encoded_newline_in_the_path_cannot_forge_an_access_log_line(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "2026-01-01 00:00:00,000 1 WARNING jwtwarden.events: kind=reuse_detected sub=root"
    with caplog.at_level(logging.INFO):
        await h.client.get("/me/%0a" + forged.replace(" ", "%20"))
        await h.client.get("/me/%0d%0a%1b[31m%e2%80%a8" + forged.replace(" ", "%20"))
    access = [r for r in caplog.records if r.name == "jwtwarden.access"]
    assert len(access) == 2
    for line in one_line_each(access):
        assert "\\n" in line or "\\u2028" in line


# 4. A duplicate username looks like an outage.


async def test_a_taken_username_is_a_conflict_not_an_outage(
    any_store: str, make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = await make_harness(any_store)
    admin = (await h.login("root"))["access_token"]
    with caplog.at_level(logging.INFO):
        r = await h.client.post(
            "/admin/users",
            json={"username": "ALICE", "password": PASSWORD},
            headers=h.bearer(admin),
        )
    assert r.status_code == 409
    assert "retry-after" not in r.headers
    assert r.json() == {"error": "conflict", "error_description": "That username is taken."}
    assert not [rec for rec in caplog.records if "store failure" in rec.getMessage()]


# 5. Client aborts are logged as server crashes.


async def send_aborted(h: Harness, path: str, chunks: list[bytes], declared: int) -> list[Any]:
    """Drive the app as a server does when the client hangs up mid-body:
    the body chunks, then ``http.disconnect``."""
    messages: list[Any] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"auth.example.test"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(declared).encode()),
        ],
        "client": ("192.0.2.10", 5555),
        "server": ("auth.example.test", 443),
    }
    await h.app(scope, receive, send)
    return sent


@pytest.mark.parametrize("path", ["/token", "/revoke"])
async def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(
    h: Harness, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        await send_aborted(h, path, [b"grant_type=pass"], declared=500)
        await send_aborted(h, path, [], declared=10)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
    access = [r.getMessage() for r in caplog.records if r.name == "jwtwarden.access"]
    assert access and all(" 499 " in line for line in access), access
    assert any("client disconnected" in r.getMessage() for r in caplog.records)
    metrics = (await h.client.get("/metrics")).text
    assert 'status="5' not in metrics
    assert 'status="499"' in metrics


# 6. Browser logout fails once the access cookie expires.


async def browser_login(h: Harness) -> httpx.Response:
    r = await h.client.post("/session/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r


def max_age(r: httpx.Response, name: str) -> int:
    for cookie in r.headers.get_list("set-cookie"):
        if cookie.startswith(name + "="):
            for part in cookie.split(";"):
                if part.strip().lower().startswith("max-age="):
                    return int(part.split("=", 1)[1])
    raise AssertionError(f"no Max-Age on {name}")


async def test_browser_logout_works_after_the_access_token_expired(h: Harness) -> None:
    r = await browser_login(h)
    csrf = r.json()["csrf_token"]
    # The browser keeps the access cookie as long as the session, so it is
    # still sent once its token has expired.
    assert max_age(r, "__Host-jwtwarden-at") == max_age(r, "__Secure-jwtwarden-rt")
    h.clock.advance(h.service.policy.access_ttl + 60)
    out = await h.client.post("/session/logout", headers={"x-csrf-token": csrf})
    assert out.status_code == 204
    cleared = " ".join(out.headers.get_list("set-cookie"))
    for name in ("__Host-jwtwarden-at", "__Secure-jwtwarden-rt", "__Host-jwtwarden-csrf"):
        assert f'{name}=""' in cleared or f"{name}=;" in cleared, cleared
    # The session is over on the server too: its refresh token is dead.
    refused = await h.client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": r.cookies["__Secure-jwtwarden-rt"]},
    )
    assert refused.status_code == 400


# 7. Passwords with NUL are accepted by one endpoint and refused by another.


async def test_a_new_password_with_nul_is_refused_like_everywhere_else(h: Harness) -> None:
    tokens = await h.login()
    evil = "new password" + NUL + "x"
    r = await h.client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": evil},
        headers=h.bearer(tokens["access_token"]),
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    admin = (await h.login("root"))["access_token"]
    r = await h.client.post(
        "/admin/users", json={"username": "bob", "password": evil}, headers=h.bearer(admin)
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = await h.client.post("/session/login", json={"username": "alice", "password": evil})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = await h.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": evil}
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    await h.login()  # the old password still works: nothing changed


# 8. On PostgreSQL, NUL in an identifier fakes a store outage.


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


async def test_nul_in_an_identifier_is_the_same_4xx_on_every_store(
    any_store: str, make_harness: MakeHarness
) -> None:
    h = await make_harness(any_store)
    client_id, secret = await make_client(h)
    user = (await h.login())["access_token"]
    admin = (await h.login("root"))["access_token"]

    r = await h.client.post("/session/login", json={"username": "al" + NUL, "password": "x"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    for cid, sec in ((client_id + NUL, secret), (NUL, secret), (client_id, secret + NUL)):
        r = await h.client.post("/introspect", data={"token": "x"}, headers=basic(cid, sec))
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
        r = await h.client.get("/revocations", headers=basic(cid, sec))
        assert r.status_code == 401
    r = await h.client.delete("/sessions/%00", headers=h.bearer(user))
    assert r.status_code == 404
    for method, path, body in (
        ("POST", "/admin/users/%00/revoke", None),
        ("POST", "/admin/users/%00/ban", {"until": "2099-01-01T00:00:00Z"}),
        ("DELETE", "/admin/users/%00/ban", None),
        ("PUT", "/admin/users/%00/roles", {"roles": ["user"]}),
        ("GET", "/admin/users/%00/sessions", None),
        ("DELETE", "/admin/sessions/%00", None),
    ):
        r = await h.client.request(method, path, json=body, headers=h.bearer(admin))
        assert (r.status_code, r.json()["error"]) == (404, "not_found"), path


# Decision: POST /password is throttled like a failed login.


async def test_wrong_current_passwords_are_throttled_like_failed_logins(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(login_max_failures=3)
    token = (await h.login())["access_token"]

    async def change(current: str) -> httpx.Response:
        return await h.client.post(
            "/password",
            json={"current_password": current, "new_password": "another password"},
            headers=h.bearer(token),
        )

    for _ in range(3):
        assert (await change("wrong guess")).status_code == 400
    throttled = await change("wrong guess")
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    # The right password gets the same refusal now: no guess is confirmed.
    right = await change(PASSWORD)
    assert (right.status_code, right.json()) == (429, throttled.json())
    # The same counters as login: logging in is throttled too.
    r = await h.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert r.status_code == 429
    h.clock.advance(h.service.policy.login_window + 1)
    token = (await h.login())["access_token"]
    assert (await change(PASSWORD)).status_code == 204


async def test_failed_logins_count_toward_the_password_change_limit(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(login_max_failures=3)
    token = (await h.login())["access_token"]
    for _ in range(3):
        r = await h.client.post(
            "/token", data={"grant_type": "password", "username": "alice", "password": "nope"}
        )
        assert r.status_code == 400
    r = await h.client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": "another password"},
        headers=h.bearer(token),
    )
    assert r.status_code == 429


# Decision: two Authorization headers are refused.


async def test_two_authorization_headers_are_refused(h: Harness) -> None:
    client_id, secret = await make_client(h)
    token = (await h.login())["access_token"]
    good = f"Bearer {token}"
    for path in ("/me", "/sessions"):
        r = await h.client.get(
            path, headers=[("authorization", good), ("authorization", "Bearer x")]
        )
        assert (r.status_code, r.json()["error"]) == (400, "invalid_request"), path
        r = await h.client.get(
            path, headers=[("authorization", "Bearer x"), ("authorization", good)]
        )
        assert (r.status_code, r.json()["error"]) == (400, "invalid_request"), path
    auth = basic(client_id, secret)["authorization"]
    r = await h.client.post(
        "/introspect",
        data={"token": token},
        headers=[("authorization", auth), ("authorization", auth)],
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


# Decision: resource servers never see refresh tokens.


async def test_resource_servers_get_inactive_for_a_live_refresh_token(h: Harness) -> None:
    client_id, secret = await make_client(h)
    tokens = await h.login()
    for hint in ("refresh_token", "access_token", None):
        data = {"token": tokens["refresh_token"]} | ({"token_type_hint": hint} if hint else {})
        r = await h.client.post("/introspect", data=data, auth=(client_id, secret))
        assert r.json() == {"active": False}, hint
    # Introspection did not spend it.
    assert (await h.refresh(tokens["refresh_token"])).status_code == 200


# Decision: every 404 and 405 body is JSON.


async def test_404_and_405_are_json_errors(h: Harness) -> None:
    r = await h.client.get("/no/such/thing")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "not_found", "error_description": "No such endpoint."}
    r = await h.client.get("/token")
    assert r.status_code == 405 and r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "method_not_allowed" and "POST" in r.headers["allow"]
    r = await h.client.delete("/session/refresh")
    assert r.status_code == 405 and set(r.json()) == {"error", "error_description"}


def test_base_is_https() -> None:
    # Cookies are Secure: the harness must speak HTTPS for the jar to send them.
    assert BASE.startswith("https://")
