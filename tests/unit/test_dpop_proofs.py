"""DPoP proofs (RFC 9449 §4.3): every check, each refusal a specific
InvalidDpopProofError, never another exception, and proofs made by an
independent implementation (joserfc) accepted."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwk as jose_jwk
from joserfc import jwt as jose_jwt

from jwtwarden.errors import InvalidDpopProofError, UseDpopNonceError
from jwtwarden.tokens.dpop import (
    MAX_PROOF_LENGTH,
    access_token_hash,
    normalize_htu,
    verify_proof,
)
from jwtwarden.tokens.jwks import public_jwk, thumbprint

NOW = 1_800_000_000.0
URI = "https://auth.example.test/token"
ALGORITHMS = jwt.algorithms.get_default_algorithms()


@dataclass
class Holder:
    """A client's DPoP key pair and the algorithm it signs proofs with."""

    alg: str
    private: Any

    @property
    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.private.public_key())

    def proof(
        self,
        claims: dict[str, Any] | None = None,
        *,
        header: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
    ) -> str:
        body = {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": URI, "iat": int(NOW)}
        body.update(claims or {})
        head = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        head.update(header or {})
        for name in drop:
            body.pop(name, None)
            head.pop(name, None)
        return sign(head, body, self.private)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(header: dict[str, Any], payload: dict[str, Any], private: Any) -> str:
    """A compact JWS signed by PyJWT's algorithm objects, whatever ``alg``
    the header claims (so lying headers can be made)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if isinstance(private, ed25519.Ed25519PrivateKey):
        algorithm = ALGORITHMS["EdDSA"]
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        algorithm = ALGORITHMS["ES256"]
    else:
        algorithm = ALGORITHMS["PS256" if header.get("alg") == "PS256" else "RS256"]
    return f"{signing_input}.{b64(algorithm.sign(signing_input.encode(), private))}"


HOLDERS = {
    "ES256": lambda: Holder("ES256", ec.generate_private_key(ec.SECP256R1())),
    "EdDSA": lambda: Holder("EdDSA", ed25519.Ed25519PrivateKey.generate()),
    "Ed25519": lambda: Holder("Ed25519", ed25519.Ed25519PrivateKey.generate()),
    "RS256": lambda: Holder("RS256", rsa.generate_private_key(65537, 2048)),
    "PS256": lambda: Holder("PS256", rsa.generate_private_key(65537, 2048)),
}


@pytest.fixture(scope="module")
def es256() -> Holder:
    return HOLDERS["ES256"]()


def check(proof: object, **options: Any) -> Any:
    options.setdefault("method", "POST")
    options.setdefault("uri", URI)
    options.setdefault("now", NOW)
    return verify_proof(proof, **options)


def refused(
    proof: object, reason: str, error: type[Exception] = InvalidDpopProofError, **options: Any
) -> None:
    with pytest.raises(error) as caught:
        check(proof, **options)
    assert type(caught.value) is error
    assert reason in caught.value.description


@pytest.mark.parametrize("alg", sorted(HOLDERS))
def test_a_proof_of_each_allowed_algorithm_is_accepted_and_names_its_key(alg: str) -> None:
    holder = HOLDERS[alg]()
    proof = check(holder.proof({"jti": "one"}))
    assert proof.jkt == thumbprint(holder.jwk)
    assert (proof.jti, proof.iat, proof.nonce) == ("one", NOW, None)
    assert proof.replay_key == f"{proof.jkt}:one"
    assert proof.replay_until == NOW + 60 + 5


def test_a_proof_made_by_joserfc_is_accepted() -> None:
    key = jose_jwk.ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"jti": "j1", "htm": "POST", "htu": URI, "iat": int(NOW)}
    proof = check(jose_jwt.encode(header, claims, key))
    assert proof.jkt == key.thumbprint()


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"typ": "JWT"}, "typ must be dpop+jwt"),
        ({"typ": None}, "typ must be dpop+jwt"),
        ({"alg": "none"}, "alg must be one of"),
        ({"alg": "HS256"}, "alg must be one of"),
        ({"alg": "ES384"}, "alg must be one of"),
        ({"crit": ["exp"]}, "critical headers"),
        ({"jku": "https://evil.test/jwks"}, "in jwk only"),
        ({"x5u": "https://evil.test/cert"}, "in jwk only"),
        ({"x5c": ["MIIB"]}, "in jwk only"),
        ({"jwk": None}, "has no jwk"),
        ({"jwk": "a string"}, "has no jwk"),
    ],
)
def test_a_bad_header_is_refused(es256: Holder, header: dict[str, Any], reason: str) -> None:
    refused(es256.proof(header=header), reason)


def test_a_kid_is_ignored_only_the_embedded_jwk_counts(es256: Holder) -> None:
    assert check(es256.proof(header={"kid": "another"})).jkt == thumbprint(es256.jwk)


def test_a_proof_without_typ_or_jwk_is_refused(es256: Holder) -> None:
    refused(es256.proof(drop=("typ",)), "typ must be dpop+jwt")
    refused(es256.proof(drop=("jwk",)), "has no jwk")


def test_a_private_key_in_the_header_is_refused(es256: Holder) -> None:
    private = jose_jwk.ECKey.import_key(es256.private).as_dict(private=True)
    refused(es256.proof(header={"jwk": private}), "holds a private key")
    refused(es256.proof(header={"jwk": {"kty": "oct", "k": "c2VjcmV0"}}), "holds a private key")


def test_a_key_that_does_not_fit_the_algorithm_is_refused(es256: Holder) -> None:
    eddsa = HOLDERS["EdDSA"]()
    refused(es256.proof(header={"jwk": eddsa.jwk}), "not a P-256 key for ES256")
    p384 = public_jwk(ec.generate_private_key(ec.SECP384R1()).public_key())
    refused(es256.proof(header={"jwk": p384}), "not a P-256 key for ES256")
    small = rsa.generate_private_key(65537, 1024)
    refused(
        sign(
            {"typ": "dpop+jwt", "alg": "RS256", "jwk": public_jwk(small.public_key())},
            {"jti": "x", "htm": "POST", "htu": URI, "iat": NOW},
            small,
        ),
        "under 2048 bits",
    )
    broken = dict(es256.jwk, x=b64(b"\x01" * 32))
    refused(es256.proof(header={"jwk": broken}), "not a valid key")


def test_a_signature_by_another_key_than_the_header_names_is_refused(es256: Holder) -> None:
    other = HOLDERS["ES256"]()
    refused(other.proof(header={"jwk": es256.jwk}), "signature is invalid")
    head, body, signature = es256.proof().split(".")
    refused(f"{head}.{body}.{signature[:-4]}AAAA", "signature is invalid")
    refused(f"{head}.{b64(b'{}')}.{signature}", "signature is invalid")


@pytest.mark.parametrize(
    ("claims", "drop", "reason"),
    [
        ({"htm": "GET"}, (), "another HTTP method"),
        ({"htm": "post"}, (), "another HTTP method"),
        ({"htu": "https://auth.example.test/other"}, (), "another URI"),
        ({"htu": "https://evil.example.test/token"}, (), "another URI"),
        ({"htu": "http://auth.example.test/token"}, (), "another URI"),
        ({"htu": "https://user@auth.example.test/token"}, (), "not an http(s) URI"),
        ({"htu": "urn:x"}, (), "not an http(s) URI"),
        ({"htu": 7}, (), "another URI"),
        ({"iat": NOW - 61}, (), "too old"),
        ({"iat": NOW + 6}, (), "in the future"),
        ({"iat": "1800000000"}, (), "numeric iat"),
        ({"iat": True}, (), "numeric iat"),
        ({"jti": ""}, (), "jti"),
        ({"jti": "x" * 257}, (), "jti"),
        ({"jti": 5}, (), "jti"),
        ({}, ("jti",), "jti"),
        ({}, ("htm",), "another HTTP method"),
        ({}, ("htu",), "another URI"),
        ({}, ("iat",), "numeric iat"),
        ({"nonce": ""}, (), "nonce is malformed"),
    ],
)
def test_a_proof_not_for_this_request_or_instant_is_refused(
    es256: Holder, claims: dict[str, Any], drop: tuple[str, ...], reason: str
) -> None:
    refused(es256.proof(claims, drop=drop), reason)


def test_the_window_edges_are_inclusive(es256: Holder) -> None:
    check(es256.proof({"iat": NOW - 60}))
    check(es256.proof({"iat": NOW + 5}))
    check(es256.proof({"iat": NOW - 10}), max_age=10, leeway=0)
    refused(es256.proof({"iat": NOW - 10.5}), "too old", max_age=10, leeway=0)


def test_query_and_fragment_are_ignored_and_equivalent_spellings_match(es256: Holder) -> None:
    check(es256.proof(), uri=URI + "?a=1#top")
    check(es256.proof({"htu": "HTTPS://Auth.Example.TEST:443/./x/../token?q"}))


def test_at_a_resource_server_ath_must_be_the_hash_of_the_token(es256: Holder) -> None:
    token = "eyJ.access.token"
    good = es256.proof({"ath": access_token_hash(token), "htm": "GET"})
    assert check(good, method="GET", access_token=token).jkt == thumbprint(es256.jwk)
    refused(good, "not for this access token", method="GET", access_token=token + "x")
    refused(
        es256.proof({"htm": "GET"}), "not for this access token", method="GET", access_token=token
    )
    refused(es256.proof({"ath": 1, "htm": "GET"}), "ath", method="GET", access_token=token)
    # RFC 9449 appendix example: ath of "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".
    assert (
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
        == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


def test_server_nonces_when_switched_on(es256: Holder) -> None:
    refused(es256.proof(), "must carry the nonce", UseDpopNonceError, nonces={"n1"})
    refused(es256.proof({"nonce": "old"}), "must carry the nonce", UseDpopNonceError, nonces={"n1"})
    assert check(es256.proof({"nonce": "n1"}), nonces={"n1", "n0"}).nonce == "n1"
    assert check(es256.proof({"nonce": "n1"})).nonce == "n1"  # nonces off: carried, not judged


@pytest.mark.parametrize(
    "proof",
    [
        None,
        17,
        "",
        "a.b",
        "a.b.c.d",
        "!!.!!.!!",
        "x" * (MAX_PROOF_LENGTH + 1),
        "e30.e30.",
        "W10.e30.AA",
    ],
)
def test_garbage_is_refused_as_a_proof(proof: object) -> None:
    with pytest.raises(InvalidDpopProofError):
        check(proof)


@given(st.text(max_size=300))
def test_any_string_is_refused_cleanly(text: str) -> None:
    with pytest.raises(InvalidDpopProofError):
        check(text)


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        ("https://a.test", "https://a.test/"),
        ("HTTPS://A.Test:443/x", "https://a.test/x"),
        ("http://a.test:80/x", "http://a.test/x"),
        ("http://a.test:8080/x", "http://a.test:8080/x"),
        ("https://a.test/a/./b/../c", "https://a.test/a/c"),
        ("https://a.test/a/b/..", "https://a.test/a/"),
        ("https://a.test/../../x", "https://a.test/x"),
        ("https://a.test/%7euser/%2f%41", "https://a.test/~user/%2FA"),
        ("https://a.test/p?q=1#f", "https://a.test/p"),
        ("https://[::1]:8443/t", "https://[::1]:8443/t"),
    ],
)
def test_htu_normalisation(uri: str, normal: str) -> None:
    assert normalize_htu(uri) == normal


@pytest.mark.parametrize(
    "uri",
    ["", "ftp://a.test/x", "https://u:p@a.test/x", "https://a.test:99999/x", "/token", "x" * 3000],
)
def test_htu_that_is_not_an_http_uri_is_refused(uri: str) -> None:
    with pytest.raises(InvalidDpopProofError):
        normalize_htu(uri)
