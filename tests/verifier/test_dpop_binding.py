"""A token's ``cnf.jkt`` (RFC 9449 §6.1) as the verifier reads it, the URI
each integration judges a proof against behind a proxy, and the cache of
parsed proof keys."""

from __future__ import annotations

from typing import Any

import pytest

from jwtwarden import FrozenClock, Verifier
from jwtwarden.dpop_client import DpopAuth, DpopKey
from jwtwarden.errors import ClaimsError
from jwtwarden.tokens import dpop as proofs
from jwtwarden.tokens.access import encode_access_token, read_payload
from jwtwarden.tokens.keys import generate_key
from jwtwarden.verifier.asgi import request_uri

from .apps import starlette_app
from .conftest import ISSUER, Minted
from .test_dpop_integrations import asgi_caller, django_caller, wsgi_caller

JKT = "A" * 43


@pytest.fixture
def signer(clock: FrozenClock) -> Any:
    return generate_key("EdDSA", clock.now())


@pytest.fixture
def verifier(minted: Minted, signer: Any, clock: FrozenClock) -> Verifier:
    return Verifier(
        issuer=ISSUER, audience=minted.service.policy.audience, keys=[signer], clock=clock
    )


def with_claims(minted: Minted, signer: Any, **claims: Any) -> str:
    return encode_access_token({**read_payload(minted.alice), **claims}, signer)


def test_cnf_jkt_is_read_and_a_token_without_cnf_is_unbound(
    minted: Minted, signer: Any, verifier: Verifier
) -> None:
    assert verifier.verify(with_claims(minted, signer, cnf={"jkt": JKT})).jkt == JKT
    assert verifier.verify(with_claims(minted, signer)).jkt is None


@pytest.mark.parametrize(
    "cnf",
    [
        None,
        "jkt",
        [JKT],
        {},
        {"x5t#S256": JKT},
        {"jkt": None},
        {"jkt": 43},
        {"jkt": "A" * 42},
        {"jkt": "A" * 44},
        {"jkt": "A" * 42 + "="},
        {"jkt": "A" * 42 + "+"},
        {"jkt": "A" * 5000},
    ],
)
def test_a_malformed_cnf_makes_the_token_invalid(
    minted: Minted, signer: Any, verifier: Verifier, cnf: Any
) -> None:
    with pytest.raises(ClaimsError, match="cnf"):
        verifier.verify(with_claims(minted, signer, cnf=cnf))


def scope(**options: Any) -> dict[str, Any]:
    headers = [(k.encode(), v.encode()) for k, v in options.pop("headers", {}).items()]
    return {"type": "http", "scheme": "http", "path": "/a b", "headers": headers, **options}


def test_the_asgi_uri_is_the_request_as_seen_unless_told_otherwise() -> None:
    forwarded = {"host": "internal:8000", "x-forwarded-proto": "https", "x-forwarded-host": "api.x"}
    assert request_uri(scope(headers=forwarded)) == "http://internal:8000/a%20b"
    assert request_uri(scope(headers=forwarded, raw_path=b"/a%20b")) == "http://internal:8000/a%20b"
    assert request_uri(scope(headers=forwarded), trust_forwarded=True) == "https://api.x/a%20b"
    # A fixed public origin wins over anything the request says.
    fixed = request_uri(scope(headers=forwarded), public_origin="https://api.example/")
    assert fixed == "https://api.example/a%20b"
    assert request_uri(scope(server=("10.0.0.1", 8080))) == "http://10.0.0.1:8080/a%20b"
    assert request_uri(scope(scheme="wss", headers={"host": "h"})) == "https://h/a%20b"


def bound_pair(minted: Minted, signer: Any, clock: FrozenClock) -> tuple[DpopKey, str]:
    key = DpopKey.generate("ES256", clock=clock)
    return key, with_claims(minted, signer, cnf={"jkt": key.jkt})


def test_asgi_behind_a_proxy_trusts_forwarded_headers_only_when_told(
    minted: Minted, signer: Any, verifier: Verifier, clock: FrozenClock
) -> None:
    key, token = bound_pair(minted, signer, clock)
    public = "https://api.example.com/me"
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "api.example.com"}

    def call(app: Any) -> int:
        headers = {
            **forwarded,
            "authorization": f"DPoP {token}",
            "dpop": key.proof("GET", public, token),
        }
        return asgi_caller(app)("/me", headers).status_code

    assert call(starlette_app(verifier)) == 401
    assert call(starlette_app(verifier, trust_forwarded=True)) == 200
    assert call(starlette_app(verifier, public_origin="https://api.example.com")) == 200


def test_flask_behind_proxyfix_judges_the_public_url(
    minted: Minted, signer: Any, verifier: Verifier, clock: FrozenClock
) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    from .apps import flask_app

    key, token = bound_pair(minted, signer, clock)
    app = flask_app(verifier)
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "api.example.com"}

    def call(wsgi: Any) -> int:
        proof = key.proof("GET", "https://api.example.com/me", token)
        headers = {**forwarded, "authorization": f"DPoP {token}", "dpop": proof}
        return wsgi_caller(wsgi)("/me", headers).status_code

    assert call(app.wsgi_app) == 401  # the forwarded headers are not read
    assert call(ProxyFix(app.wsgi_app, x_proto=1, x_host=1)) == 200


def test_django_judges_its_own_view_of_the_url(
    minted: Minted, signer: Any, verifier: Verifier, clock: FrozenClock
) -> None:
    from django.test import override_settings

    key, token = bound_pair(minted, signer, clock)
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "api.example.com"}
    call = django_caller(verifier, "")

    def status(url: str) -> int:
        proof = key.proof("GET", url, token)
        headers = {**forwarded, "authorization": f"DPoP {token}", "dpop": proof}
        return call("/me", headers).status_code

    # Without proxy settings: the transport's https://testserver.
    assert status("https://api.example.com/me") == 401
    assert status("https://testserver/me") == 200
    with override_settings(
        USE_X_FORWARDED_HOST=True,
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        ALLOWED_HOSTS=["api.example.com"],
    ):
        assert status("https://api.example.com/me") == 200
        assert status("https://testserver/me") == 401


def test_a_disallowed_host_is_djangos_400_not_a_500(
    minted: Minted, signer: Any, verifier: Verifier, clock: FrozenClock
) -> None:
    key, token = bound_pair(minted, signer, clock)
    proof = key.proof("GET", "https://evil.example/me", token)
    headers = {"host": "evil.example", "authorization": f"DPoP {token}", "dpop": proof}
    assert django_caller(verifier, "")("/me", headers).status_code == 400


def test_a_repeated_proof_key_is_parsed_once(
    minted: Minted, signer: Any, verifier: Verifier, clock: FrozenClock
) -> None:
    key, token = bound_pair(minted, signer, clock)
    call = asgi_caller(starlette_app(verifier))
    proofs._header_key.cache_clear()
    for _ in range(3):
        assert call("/me", auth=DpopAuth(key, token)).status_code == 200
    info = proofs._header_key.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_the_client_retries_once_with_the_servers_nonce(clock: FrozenClock) -> None:
    # A resource server that requires nonces (RFC 9449 §9), as its answers
    # look on the wire: 401 use_dpop_nonce with DPoP-Nonce, then 200.
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    seen: list[Any] = []

    async def endpoint(request: Request) -> JSONResponse:
        claims = read_payload(request.headers["dpop"])
        seen.append(claims.get("nonce"))
        if claims.get("nonce") != "n-1":
            challenge = 'DPoP error="use_dpop_nonce", algs="ES256"'
            headers = {"www-authenticate": challenge, "dpop-nonce": "n-1"}
            return JSONResponse({"error": "use_dpop_nonce"}, 401, headers)
        return JSONResponse({"ok": True})

    call = asgi_caller(Starlette(routes=[Route("/r", endpoint)]))
    auth = DpopAuth(DpopKey.generate("EdDSA", clock=clock), "token")
    assert call("/r", auth=auth).status_code == 200
    assert seen == [None, "n-1"]
    # The nonce is kept for the origin: the next request sends it at once.
    assert call("/r", auth=auth).status_code == 200
    assert seen == [None, "n-1", "n-1"]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_the_client_signs_proofs_the_verifier_accepts(alg: str, clock: FrozenClock) -> None:
    key = DpopKey.generate(alg, clock=clock)
    proof = key.proof("post", "https://api.example/orders?x=1#f", "tok", nonce="n")
    checked = proofs.verify_proof(
        proof,
        method="POST",
        uri="https://api.example/orders",
        now=clock.now(),
        access_token="tok",
        nonces={"n"},
    )
    assert checked.jkt == key.jkt


def test_the_client_refuses_a_key_that_does_not_fit_its_alg() -> None:
    with pytest.raises(ValueError):
        DpopKey(DpopKey.generate("EdDSA")._private, "ES256")
    with pytest.raises(ValueError):
        DpopKey.generate("HS256")
