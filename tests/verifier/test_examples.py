"""The example apps protect their routes as they say, each given a
verifier on static keys instead of the JWKS URL they use by default; the
apps with their own user table start sessions for their users."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from jwtwarden import Settings, Verifier
from jwtwarden.sync import TokenService
from tests.conftest import ServiceFactory

from .apps import Answer, Get, asgi_get, configure_django
from .conftest import PASSWORD, Minted


def starlette_example(verifier: Verifier) -> Get:
    from examples.starlette_app import create_app

    return asgi_get(create_app(verifier))


def fastapi_example(verifier: Verifier) -> Get:
    from examples.fastapi_app import create_app

    return asgi_get(create_app(verifier))


def flask_example(verifier: Verifier) -> Get:
    from examples.flask_app import create_app

    client = create_app(verifier).test_client()

    def get(path: str, headers: dict[str, str]) -> Answer:
        response = client.get(path, headers=headers)
        return Answer(response.status_code, dict(response.headers), response.get_json())

    return get


def django_example(verifier: Verifier) -> Get:
    from django.test import Client, override_settings

    configure_django()

    def get(path: str, headers: dict[str, str]) -> Answer:
        urls = "examples.django_app.urls"
        with override_settings(ROOT_URLCONF=urls, JWTWARDEN_VERIFIER=verifier):
            response = Client().get(path, headers=headers, secure=True)
        return Answer(response.status_code, dict(response.headers), json.loads(response.content))

    return get


EXAMPLES: dict[str, Callable[[Verifier], Get]] = {
    "starlette": starlette_example,
    "fastapi": fastapi_example,
    "flask": flask_example,
    "django": django_example,
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_protects_its_routes(name: str, minted: Minted) -> None:
    get = EXAMPLES[name](minted.verifier)
    alice = {"authorization": f"Bearer {minted.alice}"}
    root = {"authorization": f"Bearer {minted.root}"}
    assert get("/healthz", {}).status == 200
    assert get("/me", {}).status == 401
    assert get("/me", alice).body["roles"] == ["user"]
    assert get("/admin/report", alice).status == 403
    assert get("/admin/report", root).body["report"] == "for admins"


def test_the_django_example_drf_view_needs_the_admin_role(minted: Minted) -> None:
    get = django_example(minted.verifier)
    assert get("/api/admin/sessions", {}).status == 401
    assert get("/api/admin/sessions", {"authorization": f"Bearer {minted.alice}"}).status == 403
    answer = get("/api/admin/sessions", {"authorization": f"Bearer {minted.root}"})
    assert answer.status == 200 and answer.body["roles"] == ["admin"]


def test_the_django_example_settings_name_its_verifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.utils.module_loading import import_string
    from examples.django_app import settings

    monkeypatch.setenv("JWTWARDEN_ISSUER", "http://127.0.0.1:9")
    monkeypatch.setenv("JWTWARDEN_REVOCATIONS", "off")
    verifier = import_string(settings.JWTWARDEN_VERIFIER)
    assert isinstance(verifier, Verifier)
    verifier.close()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_answers_503_not_401_while_revocations_are_unknown(
    name: str, minted: Minted
) -> None:
    """A feed silent past max_staleness is the operator's problem: the
    client keeps its token and retries, and readiness says so."""
    from jwtwarden.verifier.feed import RevocationFeed

    feed = RevocationFeed(
        "http://127.0.0.1:9/revocations", client_id="x", client_secret="y", view=minted.view
    )
    minted.verifier.feed = feed  # never started: it has heard nothing
    get = EXAMPLES[name](minted.verifier)
    answer = get("/me", {"authorization": f"Bearer {minted.alice}"})
    headers = {k.lower(): v for k, v in answer.headers.items()}
    assert answer.status == 503 and int(headers["retry-after"]) >= 1
    assert answer.body["error"] == "temporarily_unavailable"
    if name != "django":  # Django's readiness goes through its settings' verifier
        assert get("/readyz", {}).status == 503
    # A token that is bad whatever the revocations is still the client's 401.
    assert get("/me", {"authorization": "Bearer not.a.token"}).status == 401
    feed.fresh_at = float("inf")  # heard from just now
    assert get("/me", {"authorization": f"Bearer {minted.alice}"}).status == 200
    assert get("/me", {"authorization": "Bearer not.a.token"}).status == 401


# --- the apps with their own user table (examples/*_own_users.py) ---


@dataclass
class OwnUsers:
    """An example app with its own user table: ada (editor) is user 1."""

    db: sqlite3.Connection
    client: Any

    def delete_ada(self) -> None:
        with self.db:
            self.db.execute("DELETE FROM users WHERE id = 1")


def own_user_table(example: Any) -> sqlite3.Connection:
    db: sqlite3.Connection = example.users(":memory:")
    example.add_user(db, "ada@example.com", PASSWORD, roles="editor")
    return db


@pytest.fixture
def flask_own_users() -> Iterator[OwnUsers]:
    from examples import flask_own_users as example

    db = own_user_table(example)
    with TokenService.open(Settings(store="memory://", issuer="https://app.example")) as service:
        yield OwnUsers(db, example.create_app(service, db).test_client())
    db.close()


ADA = {"email": "ada@example.com", "password": PASSWORD}


def test_the_flask_example_starts_sessions_for_its_own_users(flask_own_users: OwnUsers) -> None:
    client = flask_own_users.client
    wrong = client.post("/login", data={**ADA, "password": "nope"})
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    assert client.post("/login", data={**ADA, "email": "bob@example.com"}).status_code == 400
    pair = client.post("/login", data=ADA).get_json()
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    assert client.get("/me", headers=bearer).get_json() == {"id": 1, "email": "ada@example.com"}
    assert client.get("/hello").get_json() == {"hello": "stranger"}
    assert client.get("/hello", headers=bearer).get_json() == {"hello": "ada@example.com"}
    assert client.get("/hello", headers={"authorization": "Bearer not.a.token"}).status_code == 401
    assert client.get("/me").status_code == 401

    new = client.post("/refresh", data={"refresh_token": pair["refresh_token"]}).get_json()
    assert new["refresh_token"] != pair["refresh_token"]
    bearer = {"authorization": f"Bearer {new['access_token']}"}
    assert client.post("/logout", headers=bearer).get_json() == {"ended": True}
    assert client.get("/me", headers=bearer).status_code == 401  # revoked at once
    again = client.post("/refresh", data={"refresh_token": new["refresh_token"]})
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_the_flask_example_refuses_a_deleted_users_token(flask_own_users: OwnUsers) -> None:
    client = flask_own_users.client
    pair = client.post("/login", data=ADA).get_json()
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    flask_own_users.delete_ada()
    answer = client.get("/me", headers=bearer)
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_token"
    assert client.get("/hello", headers=bearer).get_json() == {"hello": "stranger"}


@pytest.fixture
async def fastapi_own_users(make_service: ServiceFactory) -> AsyncIterator[OwnUsers]:
    from examples import fastapi_own_users as example

    db = own_user_table(example)
    service = await make_service(issuer="https://app.example")
    transport = httpx.ASGITransport(app=example.create_app(service, db))
    async with httpx.AsyncClient(transport=transport, base_url="https://app.example") as client:
        yield OwnUsers(db, client)
    db.close()


async def test_the_fastapi_example_starts_sessions_for_its_own_users(
    fastapi_own_users: OwnUsers,
) -> None:
    client = fastapi_own_users.client
    # What Swagger UI's "Authorize" sends to the scheme's tokenUrl.
    schema = (await client.get("/openapi.json")).json()
    flow = schema["components"]["securitySchemes"]["jwtwarden"]["flows"]["password"]
    assert flow["tokenUrl"] == "/token"
    form = {"grant_type": "password", "username": ADA["email"], "scope": ""}
    wrong = await client.post("/token", data={**form, "password": "nope"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    answer = await client.post(flow["tokenUrl"], data={**form, "password": PASSWORD})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    pair = answer.json()
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    assert (await client.get("/me", headers=bearer)).json() == {"id": 1, "email": ADA["email"]}
    assert (await client.get("/hello")).json() == {"hello": "stranger"}
    assert (await client.get("/hello", headers=bearer)).json() == {"hello": "1"}
    refused = await client.get("/hello", headers={"authorization": "Bearer not.a.token"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"

    new = (await client.post("/refresh", data={"refresh_token": pair["refresh_token"]})).json()
    assert new["refresh_token"] != pair["refresh_token"]
    reused = await client.post("/refresh", data={"refresh_token": "x" * 600})
    assert reused.status_code == 422  # bounded at the edge
    bearer = {"authorization": f"Bearer {new['access_token']}"}
    assert (await client.post("/logout", headers=bearer)).json() == {"ended": True}
    assert (await client.get("/me", headers=bearer)).status_code == 401
    again = await client.post("/refresh", data={"refresh_token": new["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_the_fastapi_example_refuses_a_deleted_users_token(
    fastapi_own_users: OwnUsers,
) -> None:
    client = fastapi_own_users.client
    form = {"grant_type": "password", "username": ADA["email"], "password": PASSWORD}
    pair = (await client.post("/token", data=form)).json()
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    fastapi_own_users.delete_ada()
    answer = await client.get("/me", headers=bearer)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
