"""A FastAPI resource server protected by jwtwarden.

``RequireToken`` is a security dependency: it shows in the OpenAPI docs
(``/docs``) and returns the verified claims; ``/admin/report`` also needs
the ``admin`` role. Run::

    JWTWARDEN_ISSUER=http://127.0.0.1:8000 uvicorn examples.fastapi_app:app --port 8001
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Security

from jwtwarden import AccessClaims, Verifier
from jwtwarden.verifier.fastapi import RequireToken, install_refusal_handler


def create_app(verifier: Verifier) -> FastAPI:
    """The app, with the verifier passed in (tests give one on static keys)."""
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

    return app


app = create_app(Verifier.from_env())
