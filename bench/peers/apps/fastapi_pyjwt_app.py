"""The usual hand-rolled stack: FastAPI, PyJWT (EdDSA) and a Redis
denylist/cutoff check. A dependency decodes the bearer token, then one
``MGET`` asks Redis whether its jti is denied and whether its user has a
cutoff later than its ``iat``. Served by uvicorn (uvloop, httptools).
``python fastapi_pyjwt_app.py mint`` makes the key pair if needed and
prints an access token."""

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import redis.asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

KEY_FILE = Path(os.environ["PEER_KEY_FILE"])
PREFIX = os.environ["PEER_REDIS_PREFIX"]
ISSUER, AUDIENCE = "http://127.0.0.1/peer", "peer-api"


def mint() -> str:
    if not KEY_FILE.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        KEY_FILE.write_bytes(pem)
    key = serialization.load_pem_private_key(KEY_FILE.read_bytes(), None)
    now = int(time.time())
    claims = {"sub": "bench", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
    return jwt.encode({**claims, "jti": uuid.uuid4().hex}, key, algorithm="EdDSA")


if __name__ == "__main__" and sys.argv[1:] == ["mint"]:
    print(mint())
    sys.exit()

public_key = serialization.load_pem_private_key(KEY_FILE.read_bytes(), None).public_key()
store = redis.asyncio.Redis.from_url(os.environ["PEER_REDIS_URL"])
bearer = HTTPBearer()
app = FastAPI()


async def current_claims(
    credentials: HTTPAuthorizationCredentials = Security(bearer),
) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            credentials.credentials,
            public_key,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "jti", "sub"]},
        )
    except jwt.InvalidTokenError:
        raise HTTPException(401, "invalid token") from None
    denied, cutoff = await store.mget(
        f"{PREFIX}:deny:{claims['jti']}", f"{PREFIX}:cutoff:{claims['sub']}"
    )
    if denied is not None or (cutoff is not None and claims["iat"] <= int(cutoff)):
        raise HTTPException(401, "token revoked")
    return claims


@app.get("/me")
async def me(claims: dict[str, Any] = Depends(current_claims)) -> dict[str, Any]:
    return {"sub": claims["sub"]}
