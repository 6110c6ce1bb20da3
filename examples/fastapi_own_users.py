"""A FastAPI app with its own user table that starts jwtwarden sessions.

The app checks its users' passwords itself (a SQLite table of argon2
hashes) and calls ``start_session`` on an embedded async
:class:`jwtwarden.TokenService`: ``sub`` is the app's own user id and
jwtwarden keeps no password. Its ``POST /token`` takes the OAuth2 password
form, so Swagger UI's "Authorize" on ``/docs`` logs in; ``/refresh``
rotates, ``/logout`` ends the session, and the routes are protected by
``RequireToken`` (tokens checked by the service, revocations included),
``OptionalToken`` and ``user_dependency``. Run::

    export JWTWARDEN_STORE=sqlite:///./app-tokens.db
    python -m examples.fastapi_own_users add-user ada@example.com   # asks for a password
    uvicorn --factory examples.fastapi_own_users:create_app --port 8001
"""

from __future__ import annotations

import contextlib
import getpass
import sqlite3
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, FastAPI, Form, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from jwtwarden import AccessClaims, Settings, TokenPair, TokenService
from jwtwarden.errors import InvalidGrantError, JwtWardenError, StoreUnavailableError
from jwtwarden.verifier.fastapi import (
    OptionalToken,
    RequireToken,
    install_refusal_handler,
    user_dependency,
)

USERS_DB = "fastapi-users.db"
hasher = PasswordHasher()


def users(path: str = USERS_DB) -> sqlite3.Connection:
    """The app's own user table (id, email, argon2 hash, roles)."""
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
            (email, hasher.hash(password), roles),
        ).fetchone()
    return int(row["id"])


def check_password(db: sqlite3.Connection, email: str, password: str) -> sqlite3.Row | None:
    """The user when the password is theirs, else ``None``."""
    row = db.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    try:
        return row if row is not None and hasher.verify(row["password_hash"], password) else None
    except (VerificationError, InvalidHashError):
        return None


def create_app(
    service: TokenService | None = None, db: sqlite3.Connection | None = None
) -> FastAPI:
    """The app factory; tests pass a started service and a user table,
    otherwise both are opened from ``JWTWARDEN_STORE`` and ``USERS_DB``."""
    table = db or users()
    owned = service is None
    tokens = service or TokenService.from_settings(Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await tokens.start()
        yield
        if owned:
            await tokens.close()

    app = FastAPI(title="An app with its own users", lifespan=lifespan)
    install_refusal_handler(app)  # 401/403/503 as {"error", "error_description"}
    app.add_exception_handler(JwtWardenError, refused)  # a bad refresh token: 400
    require_user = RequireToken(tokens, token_url="/token")  # Swagger's Authorize
    optional_user = OptionalToken(tokens, token_url="/token")

    def load(claims: AccessClaims) -> sqlite3.Row | None:
        row: sqlite3.Row | None = table.execute(
            "SELECT * FROM users WHERE id = ?", (claims.sub,)
        ).fetchone()
        return row

    current_user = user_dependency(require_user, load)

    @app.post("/token")
    async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> JSONResponse:
        user = check_password(table, form.username, form.password)
        if user is None:
            raise InvalidGrantError("Wrong email or password.")
        pair = await tokens.start_session(
            str(user["id"]), roles=user["roles"].split(), claims={"email": user["email"]}
        )
        return pair_response(pair)

    @app.post("/refresh")
    async def refresh(refresh_token: Annotated[str, Form(max_length=512)]) -> JSONResponse:
        return pair_response(await tokens.refresh(refresh_token))

    @app.post("/logout")
    async def logout(claims: AccessClaims = Security(require_user)) -> dict[str, bool]:
        return {"ended": await tokens.logout(claims)}

    @app.get("/me")
    def me(user: sqlite3.Row = Depends(current_user)) -> dict[str, Any]:
        return {"id": user["id"], "email": user["email"]}

    @app.get("/hello")
    def hello(claims: AccessClaims | None = Security(optional_user)) -> dict[str, str]:
        return {"hello": claims.sub if claims else "stranger"}

    return app


def pair_response(pair: TokenPair) -> JSONResponse:
    """RFC 6749 §5.1, not cached."""
    body = {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
    }
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """RFC 6749 §5.2: a wrong password or a bad, spent or reused refresh
    token (reuse has already ended the session)."""
    assert isinstance(exc, JwtWardenError)
    status = 503 if isinstance(exc, StoreUnavailableError) else 400
    return JSONResponse({"error": exc.code, "error_description": exc.description}, status)


if __name__ == "__main__" and sys.argv[1:2] == ["add-user"]:
    print(add_user(users(), sys.argv[2], getpass.getpass("Password: ")))
