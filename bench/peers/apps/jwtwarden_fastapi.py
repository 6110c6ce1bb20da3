"""jwtwarden's FastAPI integration, and the same route without it (runs in
jwtwarden's own venv). ``/me`` depends on ``RequireToken``: keys from the
server's JWKS, revocations from its feed (``Verifier.from_env``); ``/plain``
returns a body of the same shape with no dependency. Both are ``async def``
so neither pays FastAPI's thread pool."""

from typing import Any

from fastapi import FastAPI, Security

from jwtwarden import AccessClaims, Verifier
from jwtwarden.verifier.fastapi import RequireToken, install_refusal_handler

app = FastAPI()
install_refusal_handler(app)
require_user = RequireToken(Verifier.from_env())


@app.get("/me")
async def me(claims: AccessClaims = Security(require_user)) -> dict[str, Any]:
    return {"sub": claims.sub, "roles": list(claims.roles)}


@app.get("/plain")
async def plain() -> dict[str, Any]:
    return {"sub": "bench", "roles": []}
