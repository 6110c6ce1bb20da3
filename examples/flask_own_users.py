"""A Flask app with its own user table that starts jwtwarden sessions.

The app checks its users' passwords itself (a SQLite table of werkzeug
hashes) and calls :func:`create_session` on an embedded
:class:`jwtwarden.sync.TokenService`: ``sub`` is the app's own user id and
jwtwarden keeps no password. ``/refresh`` rotates, ``/logout`` ends the
session; ``@require_token`` protects the routes (tokens checked by the
service, revocations included) and ``current_user`` is the app's own row.
Run::

    export JWTWARDEN_STORE=sqlite:///./app-tokens.db
    python -m examples.flask_own_users add-user ada@example.com   # asks for a password
    flask --app examples.flask_own_users run --port 8001
"""

from __future__ import annotations

import getpass
import sqlite3
import sys
from typing import Any

from flask import Flask, g, request
from werkzeug.security import check_password_hash, generate_password_hash

from jwtwarden import Settings
from jwtwarden.errors import (
    InvalidGrantError,
    InvalidTokenError,
    JwtWardenError,
    StoreUnavailableError,
)
from jwtwarden.sync import TokenService
from jwtwarden.verifier.flask import (
    JwtWarden,
    create_session,
    current_user,
    refusal_response,
    require_token,
)

USERS_DB = "flask-users.db"


def users(path: str = USERS_DB) -> sqlite3.Connection:
    """The app's own user table (id, email, password hash, roles)."""
    db = sqlite3.connect(path, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute(
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL,"
        " password_hash TEXT NOT NULL, roles TEXT NOT NULL DEFAULT '')"
    )
    return db


def add_user(db: sqlite3.Connection, email: str, password: str, roles: str = "") -> int:
    """Add a user; ``roles`` is space-separated."""
    with db:
        row = db.execute(
            "INSERT INTO users (email, password_hash, roles) VALUES (?, ?, ?) RETURNING id",
            (email, generate_password_hash(password), roles),
        ).fetchone()
    return int(row["id"])


def check_password(db: sqlite3.Connection, email: str, password: str) -> sqlite3.Row | None:
    """The user when the password is theirs, else ``None``."""
    row = db.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    try:
        return (
            row if row is not None and check_password_hash(row["password_hash"], password) else None
        )
    except ValueError:  # not a werkzeug hash
        return None


def create_app(service: TokenService | None = None, db: sqlite3.Connection | None = None) -> Flask:
    """The app factory; tests pass a service and a user table, otherwise
    both are opened from ``JWTWARDEN_STORE`` and ``USERS_DB`` (the facade
    closes its connections at exit)."""
    app = Flask(__name__)
    table = db or users()
    tokens = service or TokenService.open(Settings())
    warden = JwtWarden(app, service=tokens)

    @warden.user_loader
    def load(claims: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = table.execute(
            "SELECT * FROM users WHERE id = ?", (claims.sub,)
        ).fetchone()
        return row

    @app.errorhandler(JwtWardenError)
    def refused(error: JwtWardenError) -> tuple[dict[str, str], int]:
        # RFC 6749 §5.2: a bad, spent or reused refresh token (reuse has
        # already ended the session), or a wrong password.
        status = 503 if isinstance(error, StoreUnavailableError) else 400
        return {"error": error.code, "error_description": error.description}, status

    @app.post("/login")
    def login() -> dict[str, Any]:
        email, password = request.form.get("email", ""), request.form.get("password", "")
        user = check_password(table, email, password)
        if user is None:
            raise InvalidGrantError("Wrong email or password.")
        pair = create_session(str(user["id"]), roles=user["roles"].split())
        return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}

    @app.post("/refresh")
    def refresh() -> dict[str, Any]:
        pair = tokens.refresh(request.form.get("refresh_token", "")[:512])
        return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}

    @app.post("/logout")
    @require_token()
    def logout() -> dict[str, bool]:
        return {"ended": tokens.logout(g.jwtwarden_claims)}

    @app.get("/me")
    @require_token()
    def me() -> Any:
        if not current_user:  # a proxy, never `is None`: the token is good, the user gone
            return refusal_response(InvalidTokenError("The token's user does not exist."))
        return {"id": current_user["id"], "email": current_user["email"]}

    @app.get("/hello")
    @require_token(optional=True)
    def hello() -> dict[str, str]:
        return {"hello": current_user["email"] if current_user else "stranger"}

    return app


if __name__ == "__main__" and sys.argv[1:2] == ["add-user"]:
    print(add_user(users(), sys.argv[2], getpass.getpass("Password: ")))
