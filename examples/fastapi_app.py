"""A FastAPI resource server protected by jwtwarden.

``RequireToken`` is a security dependency: it shows in the OpenAPI docs
(``/docs``) and returns the verified claims; ``/admin/report`` also needs
the ``admin`` role. Revocations come from the server's feed; ``/readyz``
answers 503 until they are current. Run::

    export JWTWARDEN_ISSUER=http://127.0.0.1:8000
    # what `jwtwarden clients add orders-api` printed on the auth server:
    export JWTWARDEN_CLIENT_ID=rs_... JWTWARDEN_CLIENT_SECRET=...
    uvicorn --factory examples.fastapi_app:create_app --port 8001

Without the client credentials it refuses to start, naming them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Security
from fastapi.responses import JSONResponse

from jwtwarden import AccessClaims, Verifier
from jwtwarden.verifier.fastapi import RequireToken, install_refusal_handler


def create_app(verifier: Verifier | None = None) -> FastAPI:
    """The app factory; the verifier is passed in (tests give one on static
    keys) or built from the environment, which waits for the first snapshot."""
    verifier = verifier or Verifier.from_env()
    app = FastAPI(title="jwtwarden-protected API")
    install_refusal_handler(app)  # {"error", "error_description"} bodies
    require_user = RequireToken(verifier)
    require_admin = RequireToken(verifier, roles=["admin"])

    # FastAPI's idiom: the default is a marker, evaluated once.
    @app.get("/me")
    def me(claims: AccessClaims = Security(require_user)) -> dict[str, Any]:
        return {"sub": claims.sub, "roles": list(claims.roles)}

    @app.get("/admin/report")
    def report(claims: AccessClaims = Security(require_admin)) -> dict[str, Any]:
        return {"report": "for admins", "by": claims.sub}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        ready = verifier.is_fresh()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    return app
