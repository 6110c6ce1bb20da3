"""The JWT-bearer grant end to end: a client registered with ``jwtwarden
clients add --issue-sessions``, and Authlib's own client-side JWT-bearer
support (``AssertionSession``, unchanged) against a real ``jwtwarden serve``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from authlib.integrations.requests_client import AssertionSession
from authlib.oauth2.base import OAuth2Error
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc.jwk import OctKey
from jwt.algorithms import OKPAlgorithm

from tests.conftest import CHEAP_TEST_ARGON2
from tests.e2e.conftest import Serve, jwtwarden

ENV = {
    **os.environ,
    **{f"JWTWARDEN_ARGON2_{k.upper()}": str(v) for k, v in CHEAP_TEST_ARGON2.items()},
}


def add_client(tmp_path: Path, *args: str) -> dict[str, str]:
    out = jwtwarden("clients", "add", *args, cwd=tmp_path, env=ENV)
    return dict(json.loads(out))


def test_authlib_starts_a_session_with_a_registered_key(serve: Serve, tmp_path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    jwks_file = tmp_path / "billing.jwks.json"
    public = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwks_file.write_text(json.dumps({"keys": [{**public, "kid": "billing-1"}]}))
    with serve(workers=2) as url:
        creds = add_client(
            tmp_path, "billing", "--issue-sessions", "--jwks-file", str(jwks_file),
            "--role", "user", "--role", "staff",
        )  # fmt: skip
        meta = httpx.get(f"{url}/.well-known/oauth-authorization-server").json()
        assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in meta["grant_types_supported"]
        with AssertionSession(
            token_endpoint=meta["token_endpoint"],
            issuer=creds["client_id"],
            subject="42",
            key={**OKPAlgorithm.to_jwk(private, as_dict=True), "kid": "billing-1"},
            alg="Ed25519",  # RFC 9864's name; jwtwarden takes EdDSA too
            expires_in=120,
            scope="user staff",
        ) as client:
            me = client.get(f"{url}/me")
            assert me.status_code == 200, me.text
            assert me.json()["sub"] == "42" and me.json()["roles"] == ["user", "staff"]
            sessions = client.get(f"{url}/sessions").json()
            assert len(sessions) == 1


def test_authlib_with_the_client_secret_and_replays_across_workers(
    serve: Serve, tmp_path: Path
) -> None:
    with serve(workers=2) as url:
        creds = add_client(tmp_path, "portal", "--issue-sessions", "--role", "user")
        token_endpoint = f"{url}/token"
        client = AssertionSession(
            token_endpoint=token_endpoint,
            issuer=creds["client_id"],
            subject="u-9",
            key=OctKey.import_key(creds["client_secret"]),
            alg="HS256",
            expires_in=60,
            scope="user",
        )
        with client:
            token = client.refresh_token()
            assert token["token_type"] == "Bearer" and token["refresh_token"]
        # One assertion sent again and again, to whichever worker takes it:
        # exactly one session, every other answer invalid_grant.
        assertion = AssertionSession.ASSERTION_METHODS[AssertionSession.JWT_BEARER_GRANT_TYPE](
            key=OctKey.import_key(creds["client_secret"]),
            issuer=creds["client_id"],
            audience=token_endpoint,
            subject="u-10",
            alg="HS256",
            expires_in=60,
        )
        data = {"grant_type": AssertionSession.JWT_BEARER_GRANT_TYPE, "assertion": assertion}
        answers = [httpx.post(token_endpoint, data=data) for _ in range(6)]
        assert [a.status_code for a in answers].count(200) == 1
        assert {a.json()["error"] for a in answers if a.status_code != 200} == {"invalid_grant"}
        # Roles beyond the client's.
        with AssertionSession(
            token_endpoint=token_endpoint,
            issuer=creds["client_id"],
            subject="u-11",
            key=OctKey.import_key(creds["client_secret"]),
            alg="HS256",
            expires_in=60,
            scope="admin",
        ) as greedy:
            with pytest.raises(OAuth2Error) as refused:
                greedy.refresh_token()
            assert refused.value.error == "invalid_scope"
