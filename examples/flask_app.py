"""A Flask resource server protected by jwtwarden.

``@require_token()`` puts the verified claims on ``flask.g.jwtwarden_claims``;
``/admin/report`` also needs the ``admin`` role. Revocations come from the
server's feed; ``/readyz`` answers 503 until they are current. Run::

    export JWTWARDEN_ISSUER=http://127.0.0.1:8000
    # what `jwtwarden clients add orders-api` printed on the auth server:
    export JWTWARDEN_CLIENT_ID=rs_... JWTWARDEN_CLIENT_SECRET=...
    flask --app examples.flask_app run --port 8001

Without the client credentials it refuses to start, naming them.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from jwtwarden import Verifier
from jwtwarden.verifier.flask import JwtWarden, require_token

warden = JwtWarden()


def create_app(verifier: Verifier | None = None) -> Flask:
    """The app factory; the verifier is passed in or built from the environment."""
    app = Flask(__name__)
    checked = verifier or Verifier.from_env()
    warden.init_app(app, checked)

    @app.get("/me")
    @require_token()
    def me() -> dict[str, Any]:
        return {"sub": g.jwtwarden_claims.sub, "roles": list(g.jwtwarden_claims.roles)}

    @app.get("/admin/report")
    @require_token(roles=["admin"])
    def report() -> dict[str, Any]:
        return {"report": "for admins", "by": g.jwtwarden_claims.sub}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, Any], int]:
        ready = checked.is_fresh()
        return {"ready": ready}, 200 if ready else 503

    return app
