"""The FastAPI dependency is a security scheme in OpenAPI (a bearer scheme,
or an OAuth2 password flow on the token endpoint for Swagger's "Authorize"),
without the jwtwarden handler FastAPI's own answer still carries the
challenge, optional auth is ``None`` only without credentials, and the
user loader gives the app's own user."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI, Security

from jwtwarden import AccessClaims, Settings
from jwtwarden.server import create_app
from jwtwarden.verifier.fastapi import (
    OptionalToken,
    RequireToken,
    install_refusal_handler,
    token_endpoint,
    user_dependency,
)
from tests.conftest import CHEAP_TEST_ARGON2

from .apps import asgi_get
from .conftest import ISSUER, PASSWORD, Minted

CHEAP = {f"argon2_{k}": v for k, v in CHEAP_TEST_ARGON2.items()}


def app_for(minted: Minted) -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    def me(claims: AccessClaims = Security(RequireToken(minted.verifier))) -> dict[str, str]:
        return {"sub": claims.sub}

    @app.get("/admin")
    def admin(
        claims: AccessClaims = Security(RequireToken(minted.verifier, roles=["admin"])),
    ) -> dict[str, str]:
        return {"sub": claims.sub}

    return app


def test_the_dependency_appears_in_openapi_as_one_bearer_scheme(minted: Minted) -> None:
    schema = app_for(minted).openapi()
    scheme = schema["components"]["securitySchemes"]["jwtwarden"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for path in ("/me", "/admin"):
        assert schema["paths"][path]["get"]["security"] == [{"jwtwarden": []}]


def test_without_the_refusal_handler_fastapi_still_sends_the_challenge(minted: Minted) -> None:
    get = asgi_get(app_for(minted))
    answer = get("/me", {})
    assert answer.status == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert answer.body == {"detail": "No access token was sent."}
    answer = get("/admin", {"authorization": f"Bearer {minted.alice}"})
    assert answer.status == 403
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]


# --- the app's own users: optional auth, a user loader, Swagger's Authorize ---

USERS = {"alice": {"name": "Alice"}}


def own_users_app(minted: Minted, *, async_loader: bool = False) -> FastAPI:
    """Routes open to anonymous callers, the loaded user, and the OAuth2
    password flow on the issuer's token endpoint."""
    app = FastAPI()
    install_refusal_handler(app)
    # One scheme in OpenAPI: every dependency names the same token endpoint.
    token_url = token_endpoint(minted.verifier)
    require_user = RequireToken(minted.verifier, token_url=token_url)
    optional_user = OptionalToken(minted.verifier, token_url=token_url)
    optional_admin = OptionalToken(minted.verifier, roles=["admin"], token_url=token_url)
    loaded: list[str] = []

    def load(claims: AccessClaims) -> dict[str, str] | None:
        loaded.append(claims.sub)
        return USERS.get(claims.sub)

    async def load_async(claims: AccessClaims) -> dict[str, str] | None:
        return load(claims)

    loader = load_async if async_loader else load
    app.state.loaded = loaded

    @app.get("/hello")
    def hello(claims: AccessClaims | None = Security(optional_user)) -> dict[str, object]:
        return {"sub": claims.sub if claims else None}

    @app.get("/hello/admin")
    def hello_admin(
        claims: AccessClaims | None = Security(optional_admin),
    ) -> dict[str, object]:
        return {"sub": claims.sub if claims else None}

    @app.get("/profile")
    def profile(user: dict[str, str] = Depends(user_dependency(require_user, loader))) -> object:
        return user

    @app.get("/profile/maybe")
    def maybe(user: object = Depends(user_dependency(optional_user, loader))) -> object:
        return {"user": user}

    return app


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_an_optional_route_gets_none_without_credentials_and_the_claims_with_them(
    minted: Minted,
) -> None:
    get = asgi_get(own_users_app(minted))
    assert get("/hello", {}).body == {"sub": None}
    assert get("/hello", {"cookie": "theme=dark"}).body == {"sub": None}
    assert get("/hello", bearer(minted.alice)).body["sub"] != ""
    assert get("/hello", bearer(minted.alice)).status == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"authorization": "Bearer not.a.token"}, id="malformed"),
        pytest.param({"authorization": "Basic YWxpY2U6cHc="}, id="another-scheme"),
        pytest.param({"authorization": "Bearer"}, id="empty-bearer"),
        pytest.param({"authorization": "Bearer " + "a" * 20_000}, id="oversized"),
        pytest.param({"cookie": "__Host-jwtwarden-at="}, id="empty-cookie"),
        pytest.param({"cookie": "__Host-jwtwarden-at=not.a.token"}, id="bad-cookie"),
    ],
)
def test_an_optional_route_still_refuses_bad_credentials(
    minted: Minted, headers: dict[str, str]
) -> None:
    """Sending something that is not a good token is never "anonymous"."""
    answer = asgi_get(own_users_app(minted))("/hello", headers)
    assert answer.status == 401
    assert answer.body["error"] == "invalid_token"
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


def test_an_optional_route_refuses_forged_foreign_expired_and_revoked_tokens(
    minted: Minted,
) -> None:
    get = asgi_get(own_users_app(minted))
    assert get("/hello", bearer(minted.forged())).status == 401
    assert get("/hello", bearer(minted.foreign)).status == 401
    minted.deny(minted.alice)
    assert get("/hello", bearer(minted.alice)).status == 401
    minted.expire()
    assert get("/hello", bearer(minted.root)).status == 401


def test_an_optional_route_checks_roles_of_a_token_that_came(minted: Minted) -> None:
    get = asgi_get(own_users_app(minted))
    assert get("/hello/admin", {}).body == {"sub": None}
    assert get("/hello/admin", bearer(minted.alice)).status == 403
    assert get("/hello/admin", bearer(minted.root)).status == 200


def test_an_optional_route_answers_503_while_revocations_are_unknown(minted: Minted) -> None:
    from jwtwarden.verifier.feed import RevocationFeed

    feed = RevocationFeed(
        "http://127.0.0.1:9/revocations", client_id="x", client_secret="y", view=minted.view
    )
    minted.verifier.feed = feed  # never started: it has heard nothing
    get = asgi_get(own_users_app(minted))
    answer = get("/hello", bearer(minted.alice))
    assert answer.status == 503 and int(answer.headers["retry-after"]) >= 1
    assert get("/hello", {}).body == {"sub": None}  # anonymous needs no revocations
    assert get("/profile/maybe", bearer(minted.alice)).status == 503


@pytest.mark.parametrize("async_loader", [False, True], ids=["sync-loader", "async-loader"])
def test_the_user_dependency_gives_the_apps_own_user(minted: Minted, async_loader: bool) -> None:
    app = own_users_app(minted, async_loader=async_loader)
    get = asgi_get(app)
    alice = minted.verifier.verify(minted.alice).sub
    USERS[alice] = {"name": "Alice"}
    try:
        assert get("/profile", bearer(minted.alice)).body == {"name": "Alice"}
        assert get("/profile/maybe", bearer(minted.alice)).body == {"user": {"name": "Alice"}}
        assert app.state.loaded == [alice, alice]
    finally:
        del USERS[alice]


def test_a_user_the_loader_cannot_find_is_a_401_and_a_refused_token_loads_nobody(
    minted: Minted,
) -> None:
    app = own_users_app(minted)
    get = asgi_get(app)
    answer = get("/profile", bearer(minted.root))  # root is not in the app's table
    assert answer.status == 401 and answer.body["error"] == "invalid_token"
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert get("/profile/maybe", bearer(minted.root)).status == 401
    loaded = list(app.state.loaded)
    assert get("/profile", {}).status == 401
    assert get("/profile", bearer(minted.forged())).status == 401
    assert get("/profile/maybe", {}).body == {"user": None}
    assert app.state.loaded == loaded


def test_the_password_flow_scheme_names_the_token_endpoint_in_openapi(minted: Minted) -> None:
    app = own_users_app(minted)
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["jwtwarden"] == {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": f"{ISSUER}/token", "scopes": {}}},
    }
    assert schema["paths"]["/profile"]["get"]["security"] == [{"jwtwarden": []}]
    docs = asgi_get(app)("/docs", {})
    assert docs.status == 200


async def test_a_token_fetched_through_swaggers_password_flow_authorises_a_call(
    minted: Minted,
) -> None:
    """What Swagger UI's "Authorize" does: read the scheme's tokenUrl, post
    the password grant there as a form, then send the access token."""
    auth = create_app(minted.service, Settings(store="memory://", issuer=ISSUER, **CHEAP))
    api = own_users_app(minted)
    mounts = {
        ISSUER: httpx.ASGITransport(app=auth),
        "https://api.example.test": httpx.ASGITransport(app=api),
    }
    async with httpx.AsyncClient(mounts=mounts) as client:  # type: ignore[arg-type]
        schema = (await client.get("https://api.example.test/openapi.json")).json()
        flow = schema["components"]["securitySchemes"]["jwtwarden"]["flows"]["password"]
        form = {"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": ""}
        token = await client.post(flow["tokenUrl"], data=form)
        assert token.status_code == 200, token.text
        assert token.json()["token_type"] == "Bearer"
        access = token.json()["access_token"]
        me = await client.get("https://api.example.test/hello", headers=bearer(access))
        assert me.status_code == 200 and me.json()["sub"] == minted.verifier.verify(access).sub
        wrong = dict(form, password="wrong")
        assert (await client.post(flow["tokenUrl"], data=wrong)).status_code in (400, 401)


async def test_an_embedded_service_checks_tokens_and_its_outage_is_a_503(minted: Minted) -> None:
    """``RequireToken(service)``: the app's own service checks tokens against
    its store (a logout is seen at once); a store that cannot answer is
    the app's fault, never the client's 401."""
    from jwtwarden.errors import StoreUnavailableError

    class StoreDown:
        async def verify(self, access_token: str) -> AccessClaims:
            raise StoreUnavailableError()

    def app_on(service: object) -> FastAPI:
        app = FastAPI()
        install_refusal_handler(app)

        @app.get("/me")
        def me(claims: AccessClaims = Security(RequireToken(service))) -> dict[str, str]:  # type: ignore[arg-type]
            return {"sub": claims.sub}

        return app

    async def get(app: FastAPI, token: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://api.test") as c:
            return await c.get("/me", headers=bearer(token))

    app = app_on(minted.service)
    assert (await get(app, minted.alice)).status_code == 200
    await minted.service.logout(await minted.service.verify(minted.alice))
    assert (await get(app, minted.alice)).status_code == 401
    down = await get(app_on(StoreDown()), minted.root)
    assert down.status_code == 503 and int(down.headers["retry-after"]) >= 1
    # A DPoP-bound token is refused as Bearer (RFC 9449 §7.2): the embedded
    # service's check knows nothing of proofs, so the dependency refuses it.
    from tests.dpop_keys import DpopKey

    uri = "https://auth.test/token"
    proof = await minted.service.check_dpop_proof(
        DpopKey().proof(uri, iat=minted.clock.now()), method="POST", uri=uri
    )
    bound = await minted.service.start_session("bound-user", dpop=proof)
    refused = await get(app, bound.access_token)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("DPoP")
