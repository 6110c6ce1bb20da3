"""Interop: jwtwarden's default access tokens against unchanged third-party
verifiers, each with its defaults, fed from a real server's ``jwks_uri``.

One ``jwtwarden serve`` per signing algorithm runs for the whole session
(SQLite in a temporary folder). Each also has an expired token: one of its
own, an hour older, re-signed with its key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.conftest import PASSWORD, serving

#: Every algorithm a server can publish in its JWKS (HS256 never is).
ALGORITHMS = ["EdDSA", "Ed25519", "ES256", "RS256"]


@dataclass
class Server:
    alg: str
    url: str
    metadata: dict[str, Any]
    #: Expired before any test runs.
    expired: str

    @property
    def issuer(self) -> str:
        return str(self.metadata["issuer"])

    @property
    def jwks_uri(self) -> str:
        return str(self.metadata["jwks_uri"])

    def token(self) -> str:
        """A fresh default access token of alice."""
        return login(self.url)


def login(url: str) -> str:
    r = httpx.post(
        url + "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def tampered(token: str) -> str:
    """``token`` with ``roles: ["admin"]`` written into its payload, the
    signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["admin"]
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{raw}.{signature}"


def resigned_garbage(token: str) -> str:
    """``token`` with its signature's bytes changed."""
    header, payload, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    return f"{header}.{payload}.{flipped}{signature[1:]}"


def expired_copy(token: str, folder: Path) -> str:
    """``token`` an hour older, re-signed with the server's own key (read
    from its key file): expired past any verifier's clock tolerance
    (oauth4webapi's default is 30 s) without waiting for it."""
    from jwtwarden.keysource import FileKeySource
    from jwtwarden.tokens.access import encode_access_token

    loaded = asyncio.run(FileKeySource(folder / "jwtwarden.keys").load())
    assert loaded is not None
    header = jwt.get_unverified_header(token)
    [key] = [k for k in loaded[0].keys if k.kid == header["kid"]]
    claims = jwt.decode(token, options={"verify_signature": False})
    for name in ("iat", "exp", "auth_time", "jwtwarden_auth_time"):
        claims[name] -= 3600
    return encode_access_token(claims, key)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    with contextlib.ExitStack() as stack:
        found: dict[str, Server] = {}
        for alg in ALGORITHMS:
            folder = tmp_path_factory.mktemp(f"interop-{alg}")
            url = stack.enter_context(serving(folder)(algorithm=alg))
            meta = httpx.get(url + "/.well-known/oauth-authorization-server").json()
            found[alg] = Server(alg, url, meta, expired_copy(login(url), folder))
        yield found


@pytest.fixture(params=ALGORITHMS)
def server(request: pytest.FixtureRequest, servers: dict[str, Server]) -> Server:
    return servers[request.param]


NODE_DIR = Path(__file__).parent / "node"


def run_node_script(script: str, package: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run ``tests/interop/node/<script>`` with ``request`` as JSON on its
    stdin and return the JSON it prints; skip (a failure under ``CI=true``)
    without node or without the locked ``package`` installed."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / package).is_dir():
        pytest.skip("tests/interop/node has no node_modules: run `npm ci` there")
    result = subprocess.run(
        [node, script],
        cwd=NODE_DIR,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))
