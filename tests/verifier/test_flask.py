"""The Flask extension in an app factory, and its configuration."""

from __future__ import annotations

import pytest
from flask import Flask, g

from jwtwarden.errors import ConfigurationError
from jwtwarden.verifier.credentials import ACCESS_COOKIE_INSECURE
from jwtwarden.verifier.flask import JwtWarden, require_token

from .conftest import Minted


def create_app(warden: JwtWarden, **config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(config)

    @app.get("/me")
    @require_token()
    def me() -> dict[str, str]:
        return {"sub": g.jwtwarden_claims.sub}

    warden.init_app(app)
    return app


def test_init_app_serves_an_app_factory(minted: Minted) -> None:
    warden = JwtWarden(verifier=minted.verifier)
    for app in (create_app(warden), create_app(warden)):
        response = app.test_client().get("/me", headers={"authorization": f"Bearer {minted.root}"})
        assert response.status_code == 200


def test_the_insecure_cookie_is_read_when_configured(minted: Minted) -> None:
    app = create_app(JwtWarden(verifier=minted.verifier), JWTWARDEN_INSECURE_COOKIES=True)
    client = app.test_client()
    client.set_cookie(ACCESS_COOKIE_INSECURE, minted.alice)
    assert client.get("/me").status_code == 200


def test_a_verifier_is_required_and_the_decorator_needs_parentheses(minted: Minted) -> None:
    with pytest.raises(ConfigurationError):
        JwtWarden(Flask(__name__))
    with pytest.raises(TypeError):
        require_token(lambda: None)  # type: ignore[arg-type]


def test_a_view_without_the_extension_is_a_clear_error(minted: Minted) -> None:
    app = Flask(__name__)

    @app.get("/me")
    @require_token()
    def me() -> str:
        return "never"

    app.config["TESTING"] = True
    with pytest.raises(RuntimeError, match="JwtWarden is not initialised"):
        app.test_client().get("/me")
