"""DPoP attacks against the real ``jwtwarden serve`` (two worker processes
on one SQLite store): a stolen bound refresh token is useless without the
key, whatever the thief does with the owner's proofs, and every refusal
changes nothing; hostile proofs are ``invalid_dpop_proof``, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwt.algorithms import ECAlgorithm

from tests.dpop_keys import DpopKey
from tests.e2e.conftest import PASSWORD, serving


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("dpop"))(workers=2) as base:
        yield base


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def fresh_claims(htu: str) -> dict[str, Any]:
    return {"jti": secrets.token_urlsafe(12), "htm": "POST", "htu": htu, "iat": int(time.time())}


def token(url: str, form: dict[str, str], proof: str | None = None) -> httpx.Response:
    headers = {} if proof is None else {"dpop": proof}
    return httpx.post(f"{url}/token", data=form, headers=headers, timeout=10)


def login(url: str, key: DpopKey) -> dict[str, Any]:
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    r = token(url, form, key.proof(f"{url}/token"))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    return dict(r.json())


def refresh_form(rt: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": rt}


def assert_refused(r: httpx.Response, code: str = "invalid_dpop_proof") -> None:
    assert r.status_code == 400 and r.json()["error"] == code, (r.status_code, r.text)


def test_a_stolen_bound_refresh_token_is_useless_and_changes_nothing(url: str) -> None:
    owner = DpopKey()
    tokens = login(url, owner)
    rt, endpoint = tokens["refresh_token"], f"{url}/token"
    # The owner refreshes once; the thief saw that request's proof.
    seen = owner.proof(endpoint)
    ok = token(url, refresh_form(rt), seen)
    assert ok.status_code == 200
    rt = ok.json()["refresh_token"]
    attempts = {
        "no proof": None,
        "a fresh key of the thief's": DpopKey().proof(endpoint),
        "the owner's proof replayed": seen,
        # Proofs the owner made for other requests, copied as they were:
        "another htu": owner.proof(f"{url}/revoke"),
        "another htm": owner.proof(endpoint, "GET"),
        "a stale iat": owner.proof(endpoint, iat=time.time() - 600),
        "an iat in the future": owner.proof(endpoint, iat=time.time() + 600),
    }
    for name, proof in attempts.items():
        r = token(url, refresh_form(rt), proof)
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", (name, r.text)
    # Nothing changed: the owner's refresh token still works, once.
    again = token(url, refresh_form(rt), owner.proof(endpoint))
    assert again.status_code == 200, again.text
    assert again.json()["token_type"] == "DPoP"


def test_a_spent_bound_refresh_token_without_the_key_does_not_log_the_owner_out(url: str) -> None:
    owner = DpopKey()
    first = login(url, owner)["refresh_token"]
    second = token(url, refresh_form(first), owner.proof(f"{url}/token")).json()["refresh_token"]
    assert_refused(token(url, refresh_form(first), DpopKey().proof(f"{url}/token")))
    assert token(url, refresh_form(second), owner.proof(f"{url}/token")).status_code == 200


def hostile_proofs(url: str) -> dict[str, str]:
    key = DpopKey()
    htu = f"{url}/token"
    private_jwk = json.loads(ECAlgorithm.to_jwk(key.private))
    none_alg = unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}, fresh_claims(htu))
    hs_input = unsigned(
        {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"secret")}},
        fresh_claims(htu),
    )
    hs_sig = b64(hmac.new(b"secret", hs_input.encode(), hashlib.sha256).digest())
    return {
        "private key in jwk": key.proof(htu, header={"jwk": private_jwk}),
        "alg none": none_alg + ".",
        "HS256": f"{hs_input}.{hs_sig}",
        "jku": key.proof(htu, header={"jku": "https://evil.test/jwks"}),
        "x5u": key.proof(htu, header={"x5u": "https://evil.test/cert"}),
        "typ JWT": key.proof(htu, header={"typ": "JWT"}),
        "oversized": key.proof(htu, padding="x" * 5000),
        "not a JWT": "garbage",
        "non-ASCII": "é" * 50,
    }


def test_hostile_proofs_are_invalid_dpop_proof_never_a_500(url: str) -> None:
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    for name, proof in hostile_proofs(url).items():
        r = httpx.post(
            f"{url}/token", data=form, headers={"dpop": proof.encode("utf-8")}, timeout=10
        )
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", (name, r.text)
    # Headers too large for the HTTP server itself are refused before any
    # code of ours runs, still not with a 500.
    r = httpx.post(f"{url}/token", data=form, headers={"dpop": "x" * 200_000}, timeout=10)
    assert r.status_code < 500
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'status="5' not in metrics


def test_browser_mode_binds_the_refresh_cookie_on_the_real_server(url: str) -> None:
    # Without the page's key, its cookies, exported to another client, do
    # not refresh; the page itself still does.
    key = DpopKey()
    r = httpx.post(
        f"{url}/session/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"dpop": key.proof(f"{url}/session/login"), "origin": url},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    cookies = "; ".join(f"{c.name}={c.value}" for c in r.cookies.jar)
    headers = {"x-csrf-token": r.json()["csrf_token"], "origin": url, "cookie": cookies}
    for proof in (None, DpopKey().proof(f"{url}/session/refresh")):
        extra = {} if proof is None else {"dpop": proof}
        stolen = httpx.post(f"{url}/session/refresh", headers={**headers, **extra}, timeout=10)
        assert_refused(stolen)
    proof = key.proof(f"{url}/session/refresh")
    ok = httpx.post(f"{url}/session/refresh", headers={**headers, "dpop": proof}, timeout=10)
    assert ok.status_code == 200, ok.text


def test_the_server_logs_no_proof_and_no_traceback(
    url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    test_hostile_proofs_are_invalid_dpop_proof_never_a_500(url)
    logs = list(Path(tmp_path_factory.getbasetemp()).glob("dpop*/serve-*.log"))
    assert logs
    text = "".join(log.read_text() for log in logs)
    assert "Traceback" not in text, text
