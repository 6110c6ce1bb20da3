"""/me, /sessions, /logout, /password and the admin endpoints."""

from __future__ import annotations

import pytest

from tests.http.conftest import PASSWORD, Harness


async def test_me_needs_a_valid_access_token(h: Harness) -> None:
    tokens = await h.login()
    r = await h.client.get("/me", headers=h.bearer(tokens["access_token"]))
    assert r.status_code == 200 and r.json()["roles"] == ["user"]
    for headers in (
        {},
        h.bearer("garbage"),
        {"authorization": "Basic abc"},
        h.bearer(tokens["refresh_token"]),
    ):
        r = await h.client.get("/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith(
            'Bearer realm="jwtwarden", error="invalid_token"'
        )
        assert r.json()["error"] == "invalid_token"


async def test_sessions_list_and_end_one(h: Harness) -> None:
    a = await h.login(**{"user-agent": "phone"})
    b = await h.login(**{"user-agent": "laptop"})
    root = await h.login("root")
    listed = (await h.client.get("/sessions", headers=h.bearer(a["access_token"]))).json()
    assert [(s["user_agent"], s["current"]) for s in listed] == [("phone", True), ("laptop", False)]
    assert set(listed[0]) == {
        "sid",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip",
        "user_agent",
        "device",
        "current",
    }
    assert listed[0]["ip"] == "192.0.2.10" and listed[0]["created_at"].endswith("Z")
    other = listed[1]["sid"]
    # Another user's session is a 404, not a 403: ids cannot be probed.
    root_sid = (await h.client.get("/sessions", headers=h.bearer(root["access_token"]))).json()[0][
        "sid"
    ]
    r = await h.client.delete(f"/sessions/{root_sid}", headers=h.bearer(a["access_token"]))
    assert r.status_code == 404
    assert (await h.client.get("/me", headers=h.bearer(root["access_token"]))).status_code == 200
    r = await h.client.delete(f"/sessions/{other}", headers=h.bearer(a["access_token"]))
    assert r.status_code == 204
    assert (await h.client.get("/me", headers=h.bearer(b["access_token"]))).status_code == 401
    assert (
        await h.client.delete(f"/sessions/{other}", headers=h.bearer(a["access_token"]))
    ).status_code == 404


async def test_logout_and_logout_all(h: Harness) -> None:
    a, b, c = await h.login(), await h.login(), await h.login()
    assert (await h.client.post("/logout", headers=h.bearer(a["access_token"]))).status_code == 204
    assert (await h.client.get("/me", headers=h.bearer(a["access_token"]))).status_code == 401
    assert (await h.refresh(a["refresh_token"])).status_code == 400
    h.clock.advance(1)
    r = await h.client.post("/logout/all?keep_current=true", headers=h.bearer(b["access_token"]))
    assert r.status_code == 204
    assert (await h.client.get("/me", headers=h.bearer(b["access_token"]))).status_code == 200
    assert (await h.client.get("/me", headers=h.bearer(c["access_token"]))).status_code == 401
    h.clock.advance(1)
    assert (
        await h.client.post("/logout/all", headers=h.bearer(b["access_token"]))
    ).status_code == 204
    assert (await h.client.get("/me", headers=h.bearer(b["access_token"]))).status_code == 401


async def test_password_change(h: Harness) -> None:
    keep, other = await h.login(), await h.login()
    h.clock.advance(1)
    r = await h.client.post(
        "/password",
        json={"current_password": "wrong", "new_password": "a brand new one"},
        headers=h.bearer(keep["access_token"]),
    )
    assert r.status_code == 400
    assert (await h.client.get("/me", headers=h.bearer(other["access_token"]))).status_code == 200
    for body in (
        {"current_password": PASSWORD},
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": "a brand new one", "extra": 1},
    ):
        r = await h.client.post("/password", json=body, headers=h.bearer(keep["access_token"]))
        assert r.status_code == 400, body
    r = await h.client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": "a brand new one"},
        headers=h.bearer(keep["access_token"]),
    )
    assert r.status_code == 204
    assert (await h.client.get("/me", headers=h.bearer(keep["access_token"]))).status_code == 200
    assert (await h.client.get("/me", headers=h.bearer(other["access_token"]))).status_code == 401
    await h.login(password="a brand new one")


async def test_admin_endpoints_need_the_admin_role(h: Harness) -> None:
    user = await h.login()
    r = await h.client.post(
        "/admin/users",
        json={"username": "x", "password": PASSWORD},
        headers=h.bearer(user["access_token"]),
    )
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert (await h.client.post("/admin/users", json={})).status_code == 401


async def test_admin_manages_users_and_sessions(h: Harness) -> None:
    root = h.bearer((await h.login("root"))["access_token"])
    r = await h.client.post(
        "/admin/users",
        json={"username": "carol", "password": PASSWORD, "roles": ["ops"]},
        headers=root,
    )
    assert r.status_code == 201 and r.json()["roles"] == ["ops"]
    sub = r.json()["sub"]
    assert (
        await h.client.post(
            "/admin/users", json={"username": "CAROL", "password": PASSWORD}, headers=root
        )
    ).status_code == 409
    carol = await h.login("carol")
    sessions = (await h.client.get(f"/admin/users/{sub}/sessions", headers=root)).json()
    assert [s["current"] for s in sessions] == [False]

    h.clock.advance(1)
    r = await h.client.put(
        f"/admin/users/{sub}/roles", json={"roles": ["ops", "billing"]}, headers=root
    )
    assert r.status_code == 204
    assert (await h.client.get("/me", headers=h.bearer(carol["access_token"]))).status_code == 401
    carol = await h.login("carol")
    me = (await h.client.get("/me", headers=h.bearer(carol["access_token"]))).json()
    assert me["roles"] == ["ops", "billing"]

    r = await h.client.delete(f"/admin/sessions/{me['sid']}", headers=root)
    assert r.status_code == 204
    assert (await h.client.delete(f"/admin/sessions/{me['sid']}", headers=root)).status_code == 404
    carol = await h.login("carol")
    h.clock.advance(1)
    assert (await h.client.post(f"/admin/users/{sub}/revoke", headers=root)).status_code == 204
    assert (await h.client.get("/me", headers=h.bearer(carol["access_token"]))).status_code == 401

    h.clock.advance(1)
    r = await h.client.post(
        f"/admin/users/{sub}/ban", json={"until": "2099-01-01T00:00:00Z"}, headers=root
    )
    assert r.status_code == 204
    r = await h.client.post(
        "/token", data={"grant_type": "password", "username": "carol", "password": PASSWORD}
    )
    assert r.status_code == 400
    assert (await h.client.delete(f"/admin/users/{sub}/ban", headers=root)).status_code == 204
    await h.login("carol")


@pytest.mark.parametrize(
    "method,path,body,status",
    [
        ("post", "/admin/users/nobody/revoke", None, 404),
        ("post", "/admin/users/nobody/ban", {"until": "2099-01-01T00:00:00Z"}, 404),
        ("delete", "/admin/users/nobody/ban", None, 404),
        ("put", "/admin/users/nobody/roles", {"roles": []}, 404),
        ("get", "/admin/users/nobody/sessions", None, 404),
        ("post", "/admin/users/SUB/ban", {"until": "2099-01-01T00:00:00"}, 400),
        ("post", "/admin/users/SUB/ban", {"until": "2000-01-01T00:00:00Z"}, 400),
        ("post", "/admin/users/SUB/ban", {"until": "soon"}, 400),
        ("put", "/admin/users/SUB/roles", {"roles": ["bad role"]}, 400),
        ("put", "/admin/users/SUB/roles", {"roles": "admin"}, 400),
        ("post", "/admin/users", {"username": "", "password": PASSWORD}, 400),
        ("post", "/admin/users", [1, 2], 400),
        ("post", "/admin/users/" + "x" * 100 + "/revoke", None, 404),
    ],
)
async def test_admin_input_errors(
    h: Harness, method: str, path: str, body: object, status: int
) -> None:
    root = h.bearer((await h.login("root"))["access_token"])
    sub = (await h.service.find_user("alice")).sub
    r = await h.client.request(method, path.replace("SUB", sub), json=body, headers=root)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "error_description"}


async def test_malformed_json_is_400_and_wrong_type_415(h: Harness) -> None:
    root = h.bearer((await h.login("root"))["access_token"])
    for content, ctype, status in (
        (b"{not json", "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 413),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (b'{"username": "x"}', "text/plain", 415),
    ):
        r = await h.client.post(
            "/admin/users", content=content, headers={**root, "content-type": ctype}
        )
        assert r.status_code == status
