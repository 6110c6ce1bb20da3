"""A Starlette resource server behind jwtwarden's plain-ASGI middleware.

Every route needs a valid access token (``Authorization: Bearer …`` or the
browser-mode cookie) except ``/healthz``; ``/admin/…`` also needs the
``admin`` role. Keys come from the jwtwarden server's JWKS, revocations
(logouts, revoked sessions, bans) from its feed. ``/readyz`` answers 503
until revocations are current. Run::

    export JWTWARDEN_ISSUER=http://127.0.0.1:8000
    # what `jwtwarden clients add orders-api` printed on the auth server:
    export JWTWARDEN_CLIENT_ID=rs_... JWTWARDEN_CLIENT_SECRET=...
    uvicorn --factory examples.starlette_app:create_app --port 8001

Without the client credentials it refuses to start, naming them;
``JWTWARDEN_REVOCATIONS=off`` instead starts without revocations, with a
warning that logouts will not be seen.
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


def create_app(verifier: Verifier | None = None) -> Starlette:
    """The app factory; the verifier is passed in (tests give one on static
    keys) or built from the environment, which waits for the first snapshot."""
    checked = verifier or Verifier.from_env()

    async def readyz(request: Request) -> JSONResponse:
        ready = checked.is_fresh()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    admin = RequireRoles(Router([Route("/report", report)]), roles=["admin"])
    public = ["/healthz", "/readyz"]
    return Starlette(
        routes=[
            Route("/me", me),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Mount("/admin", app=admin),
        ],
        middleware=[Middleware(VerifierMiddleware, verifier=checked, exempt_paths=public)],
    )
