"""The FastAPI dependency is a security scheme in OpenAPI, and without the
jwtwarden handler FastAPI's own answer still carries the challenge."""

from __future__ import annotations

from fastapi import FastAPI, Security

from jwtwarden import AccessClaims
from jwtwarden.verifier.fastapi import RequireToken

from .apps import asgi_get
from .conftest import Minted


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
