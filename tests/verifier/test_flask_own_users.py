"""Flask with the app's own users: ``create_session`` on an embedded sync
service, ``@require_token(optional=True)``, and the ``current_user``
loader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g

from jwtwarden.settings import Settings
from jwtwarden.sync import TokenService
from jwtwarden.verifier.flask import JwtWarden, create_session, current_user, require_token

from .conftest import Minted

USERS = {"7": {"name": "Ada", "roles": ["editor"]}}


@pytest.fixture
def service() -> Iterator[TokenService]:
    with TokenService.open(Settings(store="memory://", issuer="https://app.example")) as s:
        yield s


def make_app(warden: JwtWarden, loads: list[str]) -> Flask:
    app = Flask(__name__)

    @warden.user_loader
    def load(claims: Any) -> dict[str, Any] | None:
        loads.append(claims.sub)
        return USERS.get(claims.sub)

    @app.post("/login/<user_id>")
    def login(user_id: str) -> dict[str, Any]:
        pair = create_session(user_id, roles=USERS[user_id]["roles"], claims={"team": "docs"})
        return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}

    @app.get("/hello")
    @require_token(optional=True)
    def hello() -> dict[str, Any]:
        claims = g.jwtwarden_claims
        return {"name": current_user["name"] if current_user else None, "anon": claims is None}

    @app.get("/me")
    @require_token(roles=["editor"])
    def me() -> dict[str, Any]:
        # Used twice, loaded once.
        return {"name": current_user["name"], "again": current_user["name"]}

    warden.init_app(app)
    return app


def test_the_apps_own_user_gets_a_session_and_is_loaded_once(service: TokenService) -> None:
    loads: list[str] = []
    client = make_app(JwtWarden(service=service), loads).test_client()
    tokens = client.post("/login/7", headers={"User-Agent": "pytest"}).get_json()
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/me", headers=bearer).get_json() == {"name": "Ada", "again": "Ada"}
    assert loads == ["7"]
    [session] = service.list_sessions("7")
    assert (session.ip, session.user_agent) == ("127.0.0.1", "pytest")
    claims = service.verify(tokens["access_token"])
    assert (claims.roles, claims.raw["team"]) == (("editor",), "docs")
    # Revoked through the service: the embedded check sees it at once.
    service.logout_all("7")
    assert client.get("/me", headers=bearer).status_code == 401


def test_optional_runs_without_a_token_and_refuses_a_bad_one(service: TokenService) -> None:
    loads: list[str] = []
    client = make_app(JwtWarden(service=service), loads).test_client()
    assert client.get("/hello").get_json() == {"name": None, "anon": True}
    assert loads == []  # no claims, no lookup
    r = client.get("/hello", headers={"authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]
    tokens = client.post("/login/7").get_json()
    r = client.get("/hello", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert r.get_json() == {"name": "Ada", "anon": False}


def test_a_token_for_a_user_the_app_no_longer_has_loads_none(service: TokenService) -> None:
    client = make_app(JwtWarden(service=service), []).test_client()
    pair = service.start_session("gone")
    r = client.get("/hello", headers={"authorization": f"Bearer {pair.access_token}"})
    assert r.get_json() == {"name": None, "anon": False}


def test_create_session_needs_a_service(minted: Minted) -> None:
    app = make_app(JwtWarden(verifier=minted.verifier), [])
    app.config["TESTING"] = True
    with pytest.raises(RuntimeError, match="service"):
        app.test_client().post("/login/7")
    # With a verifier, a token the service minted elsewhere is checked locally.
    r = app.test_client().get("/hello", headers={"authorization": f"Bearer {minted.alice}"})
    assert r.get_json() == {"name": None, "anon": False}


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer " + "a" * 20_000},
        {"authorization": "Basic YWxpY2U6cHc="},
        {"authorization": "Bearer"},
        {"authorization": ""},
    ],
    ids=["oversized", "basic", "bare-bearer", "empty"],
)
def test_optional_refuses_any_credential_it_cannot_read(
    service: TokenService, headers: dict[str, str]
) -> None:
    """Only a request that sends no credential at all is anonymous: a
    credential that is sent and unreadable is a 401, never "no token"."""
    client = make_app(JwtWarden(service=service), []).test_client()
    assert client.get("/hello", headers=headers).status_code == 401
    # An access cookie with an empty value (the test client's jar sends it).
    client.set_cookie("__Host-jwtwarden-at", "")
    assert client.get("/hello").status_code == 401


def test_a_store_that_cannot_answer_is_a_503_not_a_401() -> None:
    """An embedded service whose store is down: the app's fault, so the
    client keeps its token and retries (``Retry-After``)."""
    from jwtwarden.errors import StoreUnavailableError

    class StoreDown:
        def verify(self, access_token: str) -> Any:
            raise StoreUnavailableError()

    client = make_app(JwtWarden(service=StoreDown()), []).test_client()  # type: ignore[arg-type]
    for path in ("/me", "/hello"):
        r = client.get(path, headers={"authorization": "Bearer eyJ.a.b"})
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, path
