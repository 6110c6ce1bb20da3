"""The same three routes in each framework, behind each integration:
``/me`` (any valid token), ``/admin`` (role ``admin``), ``/public`` (no
token needed). Each is driven by its framework's own test client and
answers an :class:`Answer`, so one table of scenarios runs against all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from jwtwarden import AccessClaims, Verifier


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


Get = Callable[[str, dict[str, str]], Answer]


def me(claims: AccessClaims) -> dict[str, Any]:
    return {"sub": claims.sub, "roles": list(claims.roles)}


def starlette_client(verifier: Verifier) -> Get:
    return asgi_get(starlette_app(verifier))


def starlette_app(verifier: Verifier, **options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route, Router

    from jwtwarden.verifier.asgi import RequireRoles, VerifierMiddleware, claims_of

    async def who(request: Request) -> JSONResponse:
        return JSONResponse(me(claims_of(request.scope)))

    async def public(request: Request) -> JSONResponse:
        return JSONResponse({"public": True})

    admin = RequireRoles(Router([Route("/", who)]), roles=["admin"])
    return Starlette(
        routes=[Route("/me", who), Route("/public", public), Mount("/admin", app=admin)],
        middleware=[
            Middleware(VerifierMiddleware, verifier=verifier, exempt_paths=["/public"], **options)
        ],
    )


def fastapi_client(verifier: Verifier) -> Get:
    return asgi_get(fastapi_app(verifier))


def fastapi_app(verifier: Verifier) -> Any:
    from fastapi import FastAPI, Security

    from jwtwarden.verifier.fastapi import RequireToken, install_refusal_handler

    app = FastAPI()
    install_refusal_handler(app)
    require_user = RequireToken(verifier)
    require_admin = RequireToken(verifier, roles=["admin"])

    @app.get("/me")
    def who(claims: AccessClaims = Security(require_user)) -> dict[str, Any]:
        return me(claims)

    @app.get("/admin/")
    def admin(claims: AccessClaims = Security(require_admin)) -> dict[str, Any]:
        return me(claims)

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"public": True}

    return app


def flask_client(verifier: Verifier) -> Get:
    app = flask_app(verifier)

    def get(path: str, headers: dict[str, str]) -> Answer:
        # werkzeug's client replaces a Cookie header with its own jar.
        client = app.test_client()
        for pair in headers.get("cookie", "").split(";"):
            if pair.strip():
                name, _, value = pair.strip().partition("=")
                client.set_cookie(name, value)
        rest = {k: v for k, v in headers.items() if k != "cookie"}
        response = client.get(path, headers=rest)
        lowered = {k.lower(): v for k, v in response.headers.items()}
        return Answer(response.status_code, lowered, response.get_json(silent=True))

    return get


def flask_app(verifier: Verifier) -> Any:
    from flask import Flask, g

    from jwtwarden.verifier.flask import JwtWarden, require_token

    app = Flask(__name__)
    JwtWarden(app, verifier=verifier)

    @app.get("/me")
    @require_token()
    def who() -> dict[str, Any]:
        return me(g.jwtwarden_claims)

    @app.get("/admin/")
    @require_token(roles=["admin"])
    def admin() -> dict[str, Any]:
        return me(g.jwtwarden_claims)

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"public": True}

    return app


def django_client(verifier: Verifier) -> Get:
    from django.test import Client, override_settings

    configure_django()
    client = Client()

    def get(path: str, headers: dict[str, str]) -> Answer:
        with override_settings(JWTWARDEN_VERIFIER=verifier):
            response = client.get(path, headers=headers, secure=True)
        lowered = {k.lower(): v for k, v in response.headers.items()}
        return Answer(response.status_code, lowered, json.loads(response.content or b"null"))

    return get


def configure_django() -> None:
    """Django settings for the test process, once: the middleware, these
    views, DRF with the jwtwarden authentication class."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="test-only-not-secret",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="tests.verifier.django_urls",
        INSTALLED_APPS=["rest_framework"],
        MIDDLEWARE=["jwtwarden.verifier.django.JwtWardenMiddleware"],
        USE_TZ=True,
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": ["jwtwarden.verifier.django.JwtWardenAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            "UNAUTHENTICATED_USER": None,
        },
    )
    django.setup()


def asgi_get(app: Any) -> Get:
    """A synchronous GET through ``httpx.ASGITransport`` (starlette's
    TestClient now wants another package)."""

    async def request(path: str, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            return await c.get(path, headers=headers)

    def get(path: str, headers: dict[str, str]) -> Answer:
        response = asyncio.run(request(path, headers))
        try:
            body = response.json()
        except ValueError:
            body = None
        return Answer(response.status_code, dict(response.headers), body)

    return get


#: Every integration under the same table of scenarios.
CLIENTS: dict[str, Callable[[Verifier], Get]] = {
    "asgi": starlette_client,
    "fastapi": fastapi_client,
    "django": django_client,
    "flask": flask_client,
}
