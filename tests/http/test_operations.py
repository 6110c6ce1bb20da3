"""Health, readiness, metrics, OpenAPI, logs, and a failing store."""

from __future__ import annotations

import logging

import pytest

from jwtwarden.errors import StoreUnavailableError
from jwtwarden.server.routes import OPERATIONS
from tests.http.conftest import PASSWORD, Harness, MakeHarness


async def test_health_and_readiness(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await h.client.get("/healthz")).json() == {"status": "ok"}
    assert (await h.client.get("/readyz")).status_code == 200

    async def down() -> None:
        raise StoreUnavailableError(detail="connection refused")

    monkeypatch.setattr(h.service.store, "ping", down)
    r = await h.client.get("/readyz")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


async def test_metrics_count_what_happened_without_user_labels(h: Harness) -> None:
    tokens = await h.login()
    await h.client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": "wrong"}
    )
    await h.refresh(tokens["refresh_token"])
    h.clock.advance(60)
    await h.refresh(tokens["refresh_token"])  # reuse
    text = (await h.client.get("/metrics")).text
    assert 'jwtwarden_logins_total{outcome="success"} 1.0' in text
    assert 'jwtwarden_logins_total{outcome="failure"} 1.0' in text
    assert "jwtwarden_refreshes_total 1.0" in text
    assert "jwtwarden_reuse_detected_total 1.0" in text
    assert (
        'jwtwarden_request_duration_seconds_count{method="POST",route="/token",status="200"}'
        in text
    )
    me = (await h.client.get("/me", headers=h.bearer((await h.login())["access_token"]))).json()
    assert me["sub"] not in text and me["sid"] not in text


async def test_openapi_documents_every_route(h: Harness) -> None:
    doc = (await h.client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == set(OPERATIONS)
    grants = doc["paths"]["/token"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"
    ]["schema"]["oneOf"]
    by_grant = {g["properties"]["grant_type"]["const"]: g["required"] for g in grants}
    assert by_grant == {
        "password": ["grant_type", "username", "password"],
        "refresh_token": ["grant_type", "refresh_token"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer": ["grant_type", "assertion"],
    }
    docs = await h.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_logs_carry_no_token_password_or_query(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = await h.login()
    await h.client.get("/me", headers=h.bearer(tokens["access_token"]))
    await h.client.get(f"/me?access_token={tokens['access_token']}")
    await h.refresh(tokens["refresh_token"])
    await h.client.post("/session/login", json={"username": "alice", "password": PASSWORD})
    ours = [r for r in caplog.records if r.name.startswith("jwtwarden")]
    assert any(r.name == "jwtwarden.access" for r in ours)
    text = "\n".join(r.getMessage() for r in ours)
    assert tokens["access_token"] not in text and tokens["refresh_token"] not in text
    assert PASSWORD not in text and "access_token=" not in text


@pytest.mark.parametrize(
    "method",
    [
        "create_session",
        "rotate_if_live",
        "revoke_session",
        "deny_jti",
        "set_cutoff",
        "login_failures",
    ],
)
async def test_a_store_outage_is_503_with_retry_after_and_changes_nothing(
    h: Harness, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    t = [await h.login() for _ in range(5)]

    async def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailableError(detail="connection refused")

    monkeypatch.setattr(h.service.store, method, down)
    calls = [
        h.client.post(
            "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
        ),
        h.refresh(t[0]["refresh_token"]),
        h.client.post("/logout/all", headers=h.bearer(t[1]["access_token"])),
        h.client.post("/revoke", data={"token": t[2]["access_token"]}),
        h.client.post("/logout", headers=h.bearer(t[3]["access_token"])),
    ]
    statuses = []
    for call in calls:
        r = await call
        statuses.append(r.status_code)
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1"
            assert r.json()["error"] == "temporarily_unavailable"
    assert 503 in statuses and 500 not in statuses, statuses
    monkeypatch.undo()
    # What failed changed nothing: every token that was not meant to die works.
    for i, status in enumerate(statuses[1:], start=0):
        if status == 503:
            r = await h.client.get("/me", headers=h.bearer(t[i]["access_token"]))
            assert r.status_code == 200


async def test_unknown_routes_and_methods(h: Harness) -> None:
    assert (await h.client.get("/nope")).status_code == 404
    assert (await h.client.get("/token")).status_code == 405


async def test_the_access_log_can_be_turned_off(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = await make_harness(settings={"access_log": False})
    await h.client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "jwtwarden.access"]
