"""DPoP at every integration (RFC 9449 §7), inside its real framework and
driven by the Python client helper over httpx (ASGI transport for
Starlette and FastAPI, WSGI for Flask, Django and DRF): a bound token with
a fresh proof passes; a replayed proof, a proof for another method, URI,
token or key, a bound token sent as Bearer and an unbound one sent as DPoP
are refused with the DPoP challenge; garbage DPoP headers are never a
500."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtwarden import FrozenClock, Verifier
from jwtwarden.dpop_client import DpopAuth, DpopKey
from jwtwarden.tokens.access import encode_access_token, read_payload
from jwtwarden.tokens.keys import generate_key

from .apps import configure_django, fastapi_app, flask_app, starlette_app
from .conftest import ISSUER, Minted

BASE = "https://testserver"
Call = Callable[..., httpx.Response]


def asgi_caller(app: Any) -> Call:
    def call(path: str, headers: dict[str, str] | None = None, **options: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                return await client.request(
                    options.pop("method", "GET"), path, headers=headers, **options
                )

        return asyncio.run(go())

    return call


def wsgi_caller(app: Any, around: Callable[[], Any] | None = None) -> Call:
    def call(path: str, headers: dict[str, str] | None = None, **options: Any) -> httpx.Response:
        transport = httpx.WSGITransport(app=app)
        with httpx.Client(transport=transport, base_url=BASE) as client:
            method = options.pop("method", "GET")
            if around is None:
                return client.request(method, path, headers=headers, **options)
            with around():
                return client.request(method, path, headers=headers, **options)

    return call


def django_caller(verifier: Verifier, prefix: str) -> Call:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    configure_django()
    call = wsgi_caller(WSGIHandler(), lambda: override_settings(JWTWARDEN_VERIFIER=verifier))
    return lambda path, headers=None, **options: call(prefix + path, headers, **options)


CALLERS: dict[str, Callable[[Verifier], Call]] = {
    "asgi": lambda v: asgi_caller(starlette_app(v)),
    "fastapi": lambda v: asgi_caller(fastapi_app(v)),
    "flask": lambda v: wsgi_caller(flask_app(v)),
    "django": lambda v: django_caller(v, ""),
    "drf": lambda v: django_caller(v, "/drf"),
}


@dataclass
class Bound:
    """A verifier, a client key, and tokens bound to it (or to nothing)."""

    verifier: Verifier
    clock: FrozenClock
    key: DpopKey
    #: alice's token with ``cnf.jkt`` of ``key``.
    token: str
    #: root's token, bound to ``key`` too.
    other: str
    #: alice's token without ``cnf``.
    unbound: str
    call: Call
    #: Which integration (a key of CALLERS).
    name: str

    @property
    def prefix(self) -> str:
        """Where the routes are (``/drf`` for the DRF views)."""
        return "/drf" if self.name == "drf" else ""

    def url(self, path: str) -> str:
        return BASE + self.prefix + path

    def proof(self, method: str = "GET", path: str = "/me", **options: Any) -> str:
        return self.key.proof(method, self.url(path), options.pop("token", self.token), **options)

    def dpop(self, proof: str | None = None, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"DPoP {token or self.token}", "dpop": proof or self.proof()}


def sign(minted: Minted, token: str, signer: Any, **extra: Any) -> str:
    return encode_access_token({**read_payload(token), **extra}, signer)


@pytest.fixture(params=sorted(CALLERS))
def bound(request: pytest.FixtureRequest, minted: Minted) -> Bound:
    clock = minted.clock
    key = DpopKey.generate("ES256", clock=clock)
    signer = generate_key("EdDSA", clock.now())
    verifier = Verifier(
        issuer=ISSUER,
        audience=minted.service.policy.audience,
        keys=[signer],
        view=minted.view,
        clock=clock,
    )
    cnf = {"cnf": {"jkt": key.jkt}}
    return Bound(
        verifier,
        clock,
        key,
        sign(minted, minted.alice, signer, **cnf),
        sign(minted, minted.root, signer, **cnf),
        sign(minted, minted.alice, signer),
        CALLERS[request.param](verifier),
        request.param,
    )


def assert_dpop_refused(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{code}"' in challenge and 'algs="ES256 EdDSA' in challenge


def test_a_bound_token_with_a_fresh_proof_passes(bound: Bound) -> None:
    answer = bound.call("/me", auth=DpopAuth(bound.key, bound.token))
    assert answer.status_code == 200, answer.text
    assert answer.json()["roles"] == ["user"]
    # Each request signs a fresh proof: the next one passes as well.
    assert bound.call("/me", auth=DpopAuth(bound.key, bound.token)).status_code == 200


def test_the_same_proof_again_is_refused_as_a_replay(bound: Bound) -> None:
    headers = bound.dpop()
    assert bound.call("/me", headers).status_code == 200
    answer = bound.call("/me", headers)
    assert_dpop_refused(answer, "invalid_dpop_proof")
    assert "used already" in answer.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("method", "path", "reason"),
    [("POST", "/me", "htm"), ("GET", "/admin/", "htu"), ("GET", "/me/../public", "htu")],
)
def test_a_proof_for_another_method_or_uri_is_refused(
    bound: Bound, method: str, path: str, reason: str
) -> None:
    answer = bound.call("/me", bound.dpop(bound.proof(method, path)))
    assert_dpop_refused(answer, "invalid_dpop_proof")
    assert reason in answer.headers["www-authenticate"]


def test_the_query_is_not_part_of_htu(bound: Bound) -> None:
    assert bound.call("/me?page=2", bound.dpop(bound.proof("GET", "/me"))).status_code == 200


def test_a_bound_token_as_bearer_is_refused_with_the_dpop_challenge(bound: Bound) -> None:
    answer = bound.call("/me", {"authorization": f"Bearer {bound.token}"})
    assert_dpop_refused(answer, "invalid_token")
    assert "DPoP-bound" in answer.headers["www-authenticate"]
    # A proof alongside does not make Bearer acceptable.
    answer = bound.call("/me", {"authorization": f"Bearer {bound.token}", "dpop": bound.proof()})
    assert_dpop_refused(answer, "invalid_token")


def test_a_proof_made_for_another_token_is_refused(bound: Bound) -> None:
    answer = bound.call("/me", bound.dpop(bound.proof(token=bound.other)))
    assert_dpop_refused(answer, "invalid_dpop_proof")
    assert "ath" in answer.headers["www-authenticate"]


def test_a_proof_from_another_key_is_refused(bound: Bound) -> None:
    thief = DpopKey.generate("EdDSA", clock=bound.clock)
    answer = bound.call("/me", bound.dpop(thief.proof("GET", bound.url("/me"), bound.token)))
    assert_dpop_refused(answer, "invalid_dpop_proof")
    assert "another key" in answer.headers["www-authenticate"]


def test_a_bound_token_without_a_proof_is_refused(bound: Bound) -> None:
    answer = bound.call("/me", {"authorization": f"DPoP {bound.token}"})
    assert_dpop_refused(answer, "invalid_dpop_proof")


def test_two_dpop_headers_are_refused(bound: Bound) -> None:
    # RFC 9449 §4.3 step 1: exactly one. ASGI gives both; a WSGI server
    # joins them with a comma (httpx's WSGI transport keeps the last one).
    first, second = bound.proof(), bound.proof()
    headers = [("authorization", f"DPoP {bound.token}"), ("dpop", first), ("dpop", second)]
    if bound.name in ("asgi", "fastapi"):
        assert_dpop_refused(bound.call("/me", headers), "invalid_dpop_proof")
    joined = {"authorization": f"DPoP {bound.token}", "dpop": f"{first}, {second}"}
    assert_dpop_refused(bound.call("/me", joined), "invalid_dpop_proof")


def test_an_unbound_token_under_the_dpop_scheme_is_refused(bound: Bound) -> None:
    proof = bound.proof(token=bound.unbound)
    answer = bound.call("/me", bound.dpop(proof, bound.unbound))
    assert_dpop_refused(answer, "invalid_token")
    assert "not DPoP-bound" in answer.headers["www-authenticate"]
    # As Bearer it is what it always was, with the Bearer challenge on refusals.
    assert bound.call("/me", {"authorization": f"Bearer {bound.unbound}"}).status_code == 200


def test_a_stale_proof_is_refused(bound: Bound) -> None:
    headers = bound.dpop()
    bound.clock.advance(61 + 5)
    assert_dpop_refused(bound.call("/me", headers), "invalid_dpop_proof")


def test_a_revoked_bound_token_is_refused_even_with_a_good_proof(
    bound: Bound, minted: Minted
) -> None:
    claims = bound.verifier.verify(bound.token)
    minted.view.deny_jti(claims.jti, claims.exp)
    answer = bound.call("/me", bound.dpop())
    assert_dpop_refused(answer, "invalid_token")
    assert "revoked" in answer.headers["www-authenticate"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


#: Header values an HTTP client can send: printable, no line breaks.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=5000)
#: Proof-shaped garbage: JSON segments with hostile members.
JWK_ISH = st.dictionaries(
    st.sampled_from(["kty", "crv", "x", "y", "n", "e", "d", "k"]),
    st.one_of(st.text(max_size=50), st.integers(), st.none()),
)
PROOF_ISH = st.builds(
    lambda alg, jwk, claims, sig: (
        f"{segment({'typ': 'dpop+jwt', 'alg': alg, 'jwk': jwk})}.{segment(claims)}.{sig}"
    ),
    st.sampled_from(["ES256", "EdDSA", "RS256", "none", "HS256", "PS256"]),
    JWK_ISH,
    st.dictionaries(
        st.sampled_from(["htm", "htu", "iat", "jti", "ath", "nonce"]),
        st.one_of(st.text(max_size=30), st.floats(), st.integers(), st.booleans()),
    ),
    st.text("abcXYZ_-0189", max_size=90),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(proof=st.one_of(HEADER_TEXT, PROOF_ISH))
def test_garbage_dpop_headers_are_refused_never_a_500(bound: Bound, proof: str) -> None:
    answer = bound.call("/me", {"authorization": f"DPoP {bound.token}", "dpop": proof})
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("DPoP ")
