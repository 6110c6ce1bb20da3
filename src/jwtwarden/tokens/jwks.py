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

from ..errors import InvalidRequestError

__all__ = [
    "PublicKey",
    "PublishedKey",
    "VerifyingKey",
    "export_jwks",
    "parse_jwks",
    "public_jwk",
    "registered_jwks",
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


#: How many keys a client may register (a current one and a few next ones).
MAX_CLIENT_KEYS = 8
#: Members that only a private or a symmetric key has (RFC 7518 §6).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: The one algorithm each key type may sign assertions with.
_ALG_OF = {("OKP", "Ed25519"): "EdDSA", ("EC", "P-256"): "ES256", ("RSA", None): "RS256"}
_MIN_RSA_BITS = 2048


def registered_jwks(document: object) -> str:
    """The public keys a client registers to sign its JWT-bearer assertions
    (a JWK Set, or one JWK), checked and reduced to a canonical JWK Set as
    JSON: every key public (a private or a symmetric member is refused, so a
    secret is never stored by mistake), Ed25519, P-256 or RSA of at least
    2048 bits, each bound to its one algorithm (``EdDSA``, ``ES256``,
    ``RS256``; a different ``alg`` is refused) and named by its ``kid`` or
    its RFC 7638 thumbprint. Raises InvalidRequestError naming the fault."""
    if isinstance(document, dict) and "kty" in document:
        document = {"keys": [document]}
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_CLIENT_KEYS:
        raise InvalidRequestError(f"A JWK Set of 1 to {MAX_CLIENT_KEYS} public keys is needed.")
    out = [_registered_key(jwk) for jwk in keys]
    kids = [jwk["kid"] for jwk in out]
    if len(set(kids)) != len(kids):
        raise InvalidRequestError("Two keys of the JWK Set share a kid.")
    return json.dumps({"keys": out}, separators=(",", ":"), sort_keys=True)


def _registered_key(jwk: object) -> dict[str, Any]:
    if not isinstance(jwk, dict):
        raise InvalidRequestError("Each key of the JWK Set is a JSON object.")
    if _PRIVATE_MEMBERS.intersection(jwk) or jwk.get("kty") == "oct":
        raise InvalidRequestError("Register public keys only: this JWK holds a private key.")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    alg = _ALG_OF.get((kty, crv if kty != "RSA" else None))  # type: ignore[arg-type]
    if alg is None:
        raise InvalidRequestError("Keys are Ed25519 (OKP), P-256 (EC) or RSA.")
    if jwk.get("alg", alg) not in (alg, "Ed25519" if alg == "EdDSA" else alg):
        raise InvalidRequestError(f"A {kty} {crv or ''} key signs with {alg} only.".strip())
    if jwk.get("use", "sig") != "sig":
        raise InvalidRequestError("Keys are for signatures (use: sig).")
    try:
        parsed = jwt.PyJWK({**jwk, "alg": alg}, algorithm=alg).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidRequestError("A key of the JWK Set is malformed.") from exc
    if isinstance(parsed, rsa.RSAPublicKey) and parsed.key_size < _MIN_RSA_BITS:
        raise InvalidRequestError(f"RSA keys are at least {_MIN_RSA_BITS} bits.")
    public = public_jwk(parsed)
    kid = jwk.get("kid", thumbprint(public))
    if not isinstance(kid, str) or not 1 <= len(kid) <= 256:
        raise InvalidRequestError("A kid is 1 to 256 characters.")
    return {**public, "kid": kid, "alg": alg, "use": "sig"}
