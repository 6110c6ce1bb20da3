"""The classes of bug behind the issue-9 defects, each checked across every
place it could hide: one input policy at the edge, injection-proof logs,
statuses that say what happened, a session that can always be ended, and no
oracle on the paths a password guess can reach."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import httpx
import pytest

from jwtwarden.errors import StoreUnavailableError
from jwtwarden.server.access_log import LOG_FORMAT, OneLineFormatter
from tests.http.conftest import PASSWORD, Harness, MakeHarness

#: Characters that end, rewrite or hide a line, or a stored value.
HOSTILE = {
    "nul": "\x00",
    "lf": "\n",
    "cr": "\r",
    "ansi": "\x1b[2J",
    "u2028": "\u2028",
    "surrogate": "\ud800",
}
AT, RT, CSRF = "__Host-jwtwarden-at", "__Secure-jwtwarden-rt", "__Host-jwtwarden-csrf"


def as_json(body: object) -> dict[str, Any]:
    """Request arguments for a JSON body, escaped (a lone surrogate too)."""
    return {"content": json.dumps(body), "headers": {"content-type": "application/json"}}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode("utf-8", "surrogatepass")
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


# One input policy at the edge: the same bad input, the same 4xx, on every
# endpoint and every store.


@pytest.mark.parametrize("bad", list(HOSTILE), ids=list(HOSTILE))
async def test_a_hostile_character_gets_the_same_4xx_everywhere(
    any_store: str, make_harness: MakeHarness, bad: str
) -> None:
    h = await make_harness(any_store)
    c = HOSTILE[bad]
    client, secret = await h.service.create_client("orders-api")
    user = (await h.login())["access_token"]
    admin = (await h.login("root"))["access_token"]
    invalid = (400, "invalid_request")

    async def status(r: httpx.Response) -> tuple[int, str]:
        return r.status_code, r.json()["error"]

    # Usernames and passwords, through every endpoint that takes them.
    for body in (
        {"username": "al" + c + "ice", "password": PASSWORD},
        {"username": "alice", "password": PASSWORD + c},
    ):
        r = await h.client.post("/session/login", **as_json(body))
        assert await status(r) == invalid, body
        new = as_json({**body, "username": "b" + body["username"]})
        new["headers"].update(h.bearer(admin))
        r = await h.client.post("/admin/users", **new)
        assert await status(r) == invalid, body
    if bad != "surrogate":  # a form cannot carry a lone surrogate (UTF-8)
        for form in (
            {"username": "al" + c, "password": PASSWORD},
            {"username": "alice", "password": PASSWORD + c},
            {"username": "alice", "password": PASSWORD, "client_id": "app" + c},
        ):
            r = await h.client.post("/token", data={"grant_type": "password", **form})
            assert await status(r) == invalid, form
    for change in (
        {"current_password": PASSWORD + c, "new_password": "a new password"},
        {"current_password": PASSWORD, "new_password": "a new password" + c},
    ):
        args = as_json(change)
        args["headers"].update(h.bearer(user))
        r = await h.client.post("/password", **args)
        assert await status(r) == invalid, change
    # Client credentials: refused as unknown, never as an outage.
    for cid, sec in ((client.client_id + c, secret), (client.client_id, secret + c)):
        r = await h.client.post("/introspect", data={"token": "x"}, headers=basic(cid, sec))
        assert await status(r) == (401, "invalid_client")
    # Identifiers in paths: as unknown as any other.
    quoted = "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
    r = await h.client.delete(f"/sessions/{quoted}", headers=h.bearer(user))
    assert r.status_code == 404
    for method, path in (
        ("POST", f"/admin/users/{quoted}/revoke"),
        ("DELETE", f"/admin/users/{quoted}/ban"),
        ("GET", f"/admin/users/{quoted}/sessions"),
        ("DELETE", f"/admin/sessions/{quoted}"),
    ):
        r = await h.client.request(method, path, headers=h.bearer(admin))
        assert await status(r) == (404, "not_found"), path
    args = as_json({"roles": ["ok", "r" + c]})
    args["headers"].update(h.bearer(admin))
    r = await h.client.put("/admin/users/x/roles", **args)
    assert await status(r) == invalid
    # And nothing was created or changed by any of it.
    assert [u.username for u in await h.service.list_users()] == ["alice", "root"]
    await h.login()


async def test_a_hostile_user_agent_is_cleaned_not_refused(
    any_store: str, make_harness: MakeHarness
) -> None:
    h = await make_harness(any_store)
    r = await h.client.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers={"user-agent": "Evil\x00Agent\x1b[2J" + "x" * 2000},
    )
    assert r.status_code == 200
    sessions = (await h.client.get("/sessions", headers=h.bearer(r.json()["access_token"]))).json()
    agent = sessions[0]["user_agent"]
    assert agent.startswith("Evil\ufffdAgent\ufffd[2J") and len(agent) == 512


def test_the_cli_applies_the_same_policy(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from jwtwarden.cli.main import cli
    from tests.conftest import CHEAP_TEST_ARGON2

    monkeypatch.chdir(tmp_path)
    for name, value in CHEAP_TEST_ARGON2.items():
        monkeypatch.setenv(f"JWTWARDEN_ARGON2_{name.upper()}", str(value))
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Any:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    bad_name = run("users", "add", "al\x1bice", "--password-stdin", input=PASSWORD + "\n")
    assert bad_name.exit_code == 1 and "control characters" in bad_name.output
    bad_password = run("users", "add", "alice", "--password-stdin", input="pass\x00word1\n")
    assert bad_password.exit_code == 1 and "control characters" in bad_password.output
    assert run("users", "add", "alice", "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    taken = run("users", "add", "ALICE", "--password-stdin", input=PASSWORD + "\n")
    assert taken.exit_code == 1 and "That username is taken." in taken.output
    for args in (("ban", "al\x00ice", "--until", "2099-01-01T00:00:00Z"), ("unban", "al\x00")):
        result = run(*args)
        assert result.exit_code == 1 and "control characters" in result.output
    result = run("sessions", "revoke", "sid\x00")
    assert result.exit_code == 1 and "No live session" in result.output


# Every log line is injection-proof.


async def raw_request(
    h: Harness, method: str, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> int:
    """A request below httpx, so headers and paths can hold any byte."""
    sent: list[Any] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Any:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    from urllib.parse import unquote_to_bytes

    await h.app(
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "https",
            "path": unquote_to_bytes(path).decode("utf-8", "replace"),
            "raw_path": path,
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"auth.example.test"), *headers],
            "client": ("192.0.2.10", 5555),
            "server": ("auth.example.test", 443),
        },
        receive,
        send,
    )
    return int(sent[0]["status"])


@pytest.mark.parametrize("bad", list(HOSTILE), ids=list(HOSTILE))
async def test_every_logged_field_stays_on_one_line(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    # The socket peer is a trusted proxy, so X-Forwarded-For is read too.
    h = await make_harness(settings={"trusted_proxies": "192.0.2.10"})
    c = HOSTILE[bad]
    raw = c.encode("utf-8", "surrogatepass")
    pct = "".join(f"%{b:02X}" for b in raw).encode()
    form = b"grant_type=password&username=al" + pct + b"ice&password=" + pct
    hostile_headers = [
        (b"user-agent", b"agent" + raw + b"2026-01-01 fake line"),
        (b"x-forwarded-for", b"198.51.100.7" + raw),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]
    with caplog.at_level(logging.DEBUG):
        for path in (b"/me/" + pct + b"fake", b"/token" + pct, b"/" + pct):
            await raw_request(h, "GET", path, hostile_headers)
        await raw_request(h, "POST", b"/token", hostile_headers, form)
        good = b"grant_type=password&username=alice&password=" + PASSWORD.replace(" ", "+").encode()
        assert await raw_request(h, "POST", b"/token", hostile_headers, good) == 200
        await raw_request(h, "POST", b"/token", hostile_headers, good.replace(b"correct", b"wrong"))
        # A store failure whose error text carries the input.
        find = h.service.store.find_user

        async def failing(username: str) -> Any:
            raise StoreUnavailableError(detail=f"driver said: {username!s}{c}\nmore")

        h.service.store.find_user = failing  # type: ignore[method-assign]
        try:
            await raw_request(h, "POST", b"/token", hostile_headers, good)
        finally:
            h.service.store.find_user = find  # type: ignore[method-assign]
    records = [r for r in caplog.records if r.name.startswith("jwtwarden")]
    assert {r.name for r in records} >= {"jwtwarden.access", "jwtwarden.events", "jwtwarden.server"}
    formatter = logging.Formatter(LOG_FORMAT)
    for record in records:
        line = formatter.format(record)
        assert line.splitlines() == [line], repr(line)
        assert not any(ch in line for ch in ("\x00", "\x1b", "\ud800", "\u2028", "\x85")), line


def test_the_server_formatter_keeps_any_message_on_one_line() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "got %s", ("a\r\nb\x1b[0m\u2028c\x85d",), None
    )
    line = OneLineFormatter(LOG_FORMAT).format(record)
    assert line.splitlines() == [line] and "\x1b" not in line
    assert line.endswith("got a\\x0d\\x0ab\\x1b[0m\\u2028c\\x85d")


# Statuses say what happened.


async def test_an_outage_is_a_503_with_retry_after_and_a_conflict_is_not(
    h: Harness,
) -> None:
    find = h.service.store.find_user

    async def down(username: str) -> Any:
        raise StoreUnavailableError(detail="connection refused")

    h.service.store.find_user = down  # type: ignore[method-assign]
    r = await h.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    h.service.store.find_user = find  # type: ignore[method-assign]
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "temporarily_unavailable"
    admin = (await h.login("root"))["access_token"]
    r = await h.client.post(
        "/admin/users", json={"username": "alice", "password": PASSWORD}, headers=h.bearer(admin)
    )
    assert r.status_code == 409 and "retry-after" not in r.headers


# A session can always be ended.


async def browser_login(h: Harness) -> tuple[str, str]:
    r = await h.client.post("/session/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    return r.json()["csrf_token"], r.json()["sid"]


def assert_cleared(r: httpx.Response) -> None:
    assert r.status_code == 204, r.text
    cleared = {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}
    assert set(cleared) == {AT, RT, CSRF}
    assert all("Max-Age=0" in c for c in cleared.values()), cleared


def drop(h: Harness, *names: str) -> None:
    for cookie in list(h.client.cookies.jar):
        if cookie.name in names:
            h.client.cookies.jar.clear(cookie.domain, cookie.path, cookie.name)


@pytest.mark.parametrize(
    "state",
    [
        "live",
        "access_expired",
        "session_revoked",
        "user_cut_off",
        "refresh_only",
        "csrf_only",
        "garbled_access",
        "no_cookies",
    ],
)
async def test_browser_logout_works_and_clears_cookies_in_every_state(
    h: Harness, state: str
) -> None:
    csrf, sid = await browser_login(h)
    ends_session = state in ("live", "access_expired")
    if state == "access_expired":
        h.clock.advance(h.service.policy.access_ttl + 1)
    elif state == "session_revoked":
        await h.service.revoke_session(sid)
    elif state == "user_cut_off":
        await h.service.logout_all((await h.service.get_session(sid)).sub)
    elif state == "refresh_only":
        drop(h, AT, CSRF)
    elif state == "csrf_only":
        drop(h, AT, RT)
    elif state == "garbled_access":
        drop(h, AT)
        h.client.cookies.set(AT, "garbage.token.value", domain="auth.example.test")
    elif state == "no_cookies":
        drop(h, AT, RT, CSRF)
    r = await h.client.post("/session/logout", headers={"x-csrf-token": csrf})
    assert_cleared(r)
    if ends_session:
        assert (await h.service.get_session(sid)).revoked_at is not None


async def test_a_forged_cross_site_logout_is_refused(h: Harness) -> None:
    csrf, sid = await browser_login(h)
    assert (await h.client.post("/session/logout")).status_code == 403
    r = await h.client.post(
        "/session/logout", headers={"x-csrf-token": csrf, "origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert (await h.service.get_session(sid)).revoked_at is None


# No oracle: wrong and right-but-not-allowed answer alike.


def answer(r: httpx.Response) -> tuple[int, str, dict[str, str]]:
    headers = {k: v for k, v in r.headers.items() if k not in ("date", "content-length")}
    return r.status_code, r.text, headers


@pytest.mark.parametrize("endpoint", ["/token", "/session/login"])
async def test_wrong_and_right_but_refused_answer_identically(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    h = await make_harness(login_max_failures=50)
    checks: list[str] = []
    check = h.service.passwords._matches

    async def counting(target: str, password: str) -> bool:
        checks.append(password)
        return await check(target, password)

    monkeypatch.setattr(h.service.passwords, "_matches", counting)
    await h.service.create_user("carol", PASSWORD)
    await h.service.ban((await h.service.find_user("carol")).sub, h.clock.now() + 3600)

    async def attempt(username: str, password: str) -> tuple[Any, int]:
        before = len(checks)
        if endpoint == "/token":
            r = await h.client.post(
                "/token",
                data={"grant_type": "password", "username": username, "password": password},
            )
        else:
            r = await h.client.post(endpoint, json={"username": username, "password": password})
        return answer(r), len(checks) - before

    cases = {
        "unknown user": ("nobody", PASSWORD),
        "wrong password": ("alice", "wrong password"),
        "banned, right password": ("carol", PASSWORD),
        "banned, wrong password": ("carol", "wrong password"),
    }
    results = {name: await attempt(*creds) for name, creds in cases.items()}
    first = next(iter(results.values()))
    assert first[0][0] == 400 and first[1] == 1  # one argon2 check each
    for name, result in results.items():
        assert result == first, name
    # Throttled: right and wrong alike, and no password is checked at all.
    h2 = await make_harness(login_max_failures=2)
    for _ in range(2):
        await h2.client.post(
            "/token", data={"grant_type": "password", "username": "alice", "password": "no"}
        )
    right = await h2.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    wrong = await h2.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": "nope"}
    )
    assert right.status_code == 429 and answer(right) == answer(wrong)


# Found by the cookie fuzzing: a non-ASCII X-CSRF-Token was a 500
# (``hmac.compare_digest`` refuses non-ASCII str).


@pytest.mark.parametrize("path", ["/session/refresh", "/session/logout", "/logout", "/password"])
async def test_a_non_ascii_csrf_header_is_a_403_not_a_crash(h: Harness, path: str) -> None:
    await browser_login(h)
    r = await h.client.post(path, headers={"x-csrf-token": "caf\u00e9".encode("latin-1")}, json={})
    assert r.status_code == 403 and r.json()["error"] == "invalid_request"


def test_every_error_class_maps_to_the_status_that_says_what_happened() -> None:
    from jwtwarden import errors as e
    from jwtwarden.server.errors import error_response

    table = {
        e.InvalidRequestError(): (400, "invalid_request", None),
        e.InvalidGrantError(): (400, "invalid_grant", None),
        e.InvalidCredentialsError(): (400, "invalid_grant", None),
        e.UnsupportedGrantTypeError(): (400, "unsupported_grant_type", None),
        e.InvalidClientError(): (401, "invalid_client", None),
        e.BadSignatureError(): (401, "invalid_token", None),
        e.InsufficientScopeError(): (403, "insufficient_scope", None),
        e.NotFoundError(): (404, "not_found", None),
        e.StoreConflictError(): (409, "conflict", None),
        e.RateLimitedError(7): (429, "slow_down", "7"),
        e.StoreUnavailableError(): (503, "temporarily_unavailable", "1"),
        e.StaleRevocationsError(): (503, "temporarily_unavailable", "1"),
        e.ConfigurationError(detail="secret path"): (500, "server_error", None),
    }
    for error, (status, code, retry_after) in table.items():
        r = error_response(error)
        body = json.loads(bytes(r.body))
        assert (r.status_code, body["error"]) == (status, code), type(error).__name__
        assert r.headers.get("retry-after") == retry_after, type(error).__name__
        assert "secret path" not in body["error_description"]
