"""JWKS export (RFC 7517) and key ids (RFC 7638 thumbprints).

This module knows public keys only; ``keys.py`` (the private side) builds on
it, never the other way round.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

__all__ = [
    "PublicKey",
    "PublishedKey",
    "VerifyingKey",
    "export_jwks",
    "parse_jwks",
    "public_jwk",
    "thumbprint",
]

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

#: Algorithms a published key may carry; anything else in a JWKS is skipped.
_PUBLIC_ALGORITHMS = frozenset({"EdDSA", "Ed25519", "ES256", "RS256"})
#: PyJWT knows the Ed25519 algorithm by its legacy name only.
_PYJWT_NAMES = {"Ed25519": "EdDSA"}


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """A public key from a JWKS, bound to its one algorithm."""

    kid: str
    alg: str
    public: Any


class PublishedKey(Protocol):
    """What the JWKS export reads of a key (a ``keys.SigningKey`` is one)."""

    @property
    def kid(self) -> str: ...
    @property
    def alg(self) -> str: ...
    @property
    def public(self) -> PublicKey | bytes: ...
    @property
    def is_symmetric(self) -> bool: ...


# RFC 7638 §3.2: the members that define each key type, in lexicographic order.
_REQUIRED_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


def public_jwk(public: PublicKey) -> dict[str, Any]:
    """The public JWK of ``public`` (no ``kid``), via PyJWT's encoders."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        return OKPAlgorithm.to_jwk(public, as_dict=True)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ECAlgorithm.to_jwk(public, as_dict=True)
    return RSAAlgorithm.to_jwk(public, as_dict=True)


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 JWK thumbprint, base64url without padding."""
    members = {name: jwk[name] for name in _REQUIRED_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def export_jwks(keys: Iterable[PublishedKey]) -> dict[str, Any]:
    """The JWK Set of every asymmetric key given; shared secrets are never
    published."""
    out = []
    for key in keys:
        if key.is_symmetric or isinstance(key.public, bytes):
            continue
        jwk = public_jwk(key.public)
        jwk.update(kid=key.kid, alg=key.alg, use="sig")
        out.append(jwk)
    return {"keys": out}


def parse_jwks(document: dict[str, Any]) -> list[VerifyingKey]:
    """The usable signature keys of a JWK Set. A key without ``kid`` or
    ``alg``, of another use, or with an algorithm not allowed here is skipped,
    so a JWKS cannot widen the algorithms a verifier accepts."""
    keys = []
    for jwk in document.get("keys", []) if isinstance(document, dict) else []:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or alg not in _PUBLIC_ALGORITHMS:
            continue
        try:
            parsed = jwt.PyJWK(jwk, algorithm=_PYJWT_NAMES.get(alg, alg))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        keys.append(VerifyingKey(kid, alg, parsed.key))
    return keys
