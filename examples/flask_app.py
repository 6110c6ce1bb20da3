"""A Flask resource server protected by jwtwarden.

``@require_token()`` puts the verified claims on ``flask.g.jwtwarden_claims``;
``/admin/report`` also needs the ``admin`` role. Run::

    JWTWARDEN_ISSUER=http://127.0.0.1:8000 flask --app examples.flask_app run --port 8001
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
    warden.init_app(app, verifier or Verifier.from_env())

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

    return app
