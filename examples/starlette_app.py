"""A Starlette resource server behind jwtwarden's plain-ASGI middleware.

Every route needs a valid access token (``Authorization: Bearer …`` or the
browser-mode cookie) except ``/healthz``; ``/admin/…`` also needs the
``admin`` role. Keys come from the jwtwarden server's JWKS. Run::

    JWTWARDEN_ISSUER=http://127.0.0.1:8000 uvicorn examples.starlette_app:app --port 8001
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, Router

from jwtwarden import Verifier
from jwtwarden.verifier.asgi import RequireRoles, VerifierMiddleware, claims_of


async def me(request: Request) -> JSONResponse:
    claims = claims_of(request.scope)
    return JSONResponse({"sub": claims.sub, "roles": list(claims.roles)})


async def report(request: Request) -> JSONResponse:
    return JSONResponse({"report": "for admins", "by": claims_of(request.scope).sub})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def create_app(verifier: Verifier) -> Starlette:
    """The app, with the verifier passed in (tests give one on static keys)."""
    admin = RequireRoles(Router([Route("/report", report)]), roles=["admin"])
    return Starlette(
        routes=[Route("/me", me), Route("/healthz", healthz), Mount("/admin", app=admin)],
        middleware=[Middleware(VerifierMiddleware, verifier=verifier, exempt_paths=["/healthz"])],
    )


app = create_app(Verifier.from_env())
