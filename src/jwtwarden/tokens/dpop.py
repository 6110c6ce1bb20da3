"""DPoP proofs (RFC 9449): checking one, and the thumbprint that binds
tokens to the key that signed it.

A proof is a JWT the client signs, per request, with a key it never sends:
its header carries the public key (``jwk``), its claims name the request
(``htm``, ``htu``), the instant (``iat``) and a unique ``jti``, and at a
resource server the hash of the access token (``ath``). What is refused,
each as :class:`~jwtwarden.errors.InvalidDpopProofError` with a reason the
client can act on (RFC 9449 §4.3):

- anything but one compact JWT of at most :data:`MAX_PROOF_LENGTH`;
- a ``typ`` other than ``dpop+jwt``, an ``alg`` not in :data:`ALGORITHMS`
  (so never ``none`` or an HMAC), a ``crit`` header, and ``jku``/``x5u``/
  ``x5c``, which would name a key other than the embedded one (a ``kid``
  is ignored: only the ``jwk`` is ever used);
- a ``jwk`` that is missing, holds private members, does not fit the ``alg``
  (an RSA key under 2048 bits, an EC key off P-256), or does not verify the
  signature;
- ``htm`` other than the request's method, ``htu`` other than the request's
  URI once both are normalised (RFC 3986 §6.2.2 and §6.2.3) without query
  and fragment;
- ``iat`` outside ``[now - max_age, now + leeway]``, a missing or oversized
  ``jti``;
- at a resource server, ``ath`` other than the hash of the token presented;
- when the server asks for nonces, a ``nonce`` it did not issue
  (:class:`~jwtwarden.errors.UseDpopNonceError`, ``use_dpop_nonce``).

Replays are not judged here: the caller remembers ``(jkt, jti)`` until
:attr:`Proof.replay_until` (through the store at the token endpoint, so
every server process shares it). Signatures are checked by PyJWT's
algorithm objects, as for access tokens; the compact serialization is
parsed by the same helpers (``access.py``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import re
import string
from collections.abc import Container
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import InvalidDpopProofError, MalformedTokenError, UseDpopNonceError
from .access import _json_object, _signature_bytes, _split
from .jwks import thumbprint

__all__ = [
    "ALGORITHMS",
    "MAX_PROOF_LENGTH",
    "Proof",
    "access_token_hash",
    "normalize_htu",
    "verify_proof",
]

#: Proof algorithms accepted (RFC 9449 §4.3 step 5: asymmetric only);
#: ``Ed25519`` is the RFC 9864 name of ``EdDSA`` on an Ed25519 key.
ALGORITHMS = ("ES256", "EdDSA", "Ed25519", "RS256", "PS256")
#: Longest proof accepted: an RSA-4096 ``jwk`` makes a proof of ~1.6 KB.
MAX_PROOF_LENGTH = 4096
#: Longest ``jti`` and ``htu`` accepted.
MAX_JTI_LENGTH = 256
MAX_HTU_LENGTH = 2048
MIN_RSA_BITS = 2048
#: Proof headers (so keys) remembered already parsed, per process.
KEY_CACHE_SIZE = 1024

_PYJWT = dict(jwt.algorithms.get_default_algorithms())
_VERIFIERS = {alg: _PYJWT["EdDSA" if alg == "Ed25519" else alg] for alg in ALGORITHMS}
#: The key type each algorithm needs, and its curve.
_KEY_TYPES: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
}
#: Headers that would point at another key than the embedded ``jwk``.
_OTHER_KEY_HEADERS = frozenset({"jku", "x5u", "x5c"})
#: JWK members that only a private (or symmetric) key has (RFC 7518 §6).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_PUBLIC_TYPES = (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_METHOD = re.compile(r"[A-Z]{1,16}")


@dataclass(frozen=True, slots=True)
class Proof:
    """A checked DPoP proof."""

    #: RFC 7638 SHA-256 thumbprint of the proof's key: what ``cnf.jkt``
    #: and a bound refresh token carry.
    jkt: str
    jti: str
    iat: float
    #: The server nonce the proof carried, if any.
    nonce: str | None
    #: Until when ``(jkt, jti)`` must be remembered to refuse a replay:
    #: past it the proof is refused as too old anyway.
    replay_until: float

    @property
    def replay_key(self) -> str:
        """What to remember: a ``jti`` is unique per key, not globally."""
        return f"{self.jkt}:{self.jti}"


def access_token_hash(access_token: str) -> str:
    """``ath`` (RFC 9449 §4.2): base64url SHA-256 of the token's ASCII."""
    digest = hashlib.sha256(access_token.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def normalize_htu(uri: str) -> str:
    """``uri`` without query and fragment, normalised as RFC 9449 §4.3 asks
    (RFC 3986 §6.2.2 syntax-based and §6.2.3 scheme-based): scheme and host
    in lower case, the default port dropped, percent-encodings in upper
    case and unreserved ones decoded, dot segments removed, an empty path
    made ``/``. Raises InvalidDpopProofError for anything but an absolute
    http(s) URI without user information."""
    if not isinstance(uri, str) or not 0 < len(uri) <= MAX_HTU_LENGTH:
        raise InvalidDpopProofError("The DPoP proof's htu is not a URI.")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidDpopProofError("The DPoP proof's htu is not a URI.") from exc
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        raise InvalidDpopProofError("The DPoP proof's htu is not an http(s) URI.")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _remove_dot_segments(_PERCENT.sub(_normalize_escape, parts.path)) or "/"
    return f"{scheme}://{netloc}{path}"


#: :func:`normalize_htu` remembered per process for the proof checks (a
#: client names the same few URIs in every proof, a server serves the same
#: few): it was a fifth of a resource server's proof check.
_normalized = functools.lru_cache(maxsize=KEY_CACHE_SIZE)(normalize_htu)


def _normalize_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, for the absolute paths of an http(s) URI.
    segments = path.split("/")
    out: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if len(out) > 1:
                out.pop()
            continue
        out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")
    return "/".join(out)


def verify_proof(
    proof: object,
    *,
    method: str,
    uri: str,
    now: float,
    max_age: float = 60.0,
    leeway: float = 5.0,
    access_token: str | None = None,
    nonces: Container[str] | None = None,
) -> Proof:
    """Check ``proof`` for the request ``method uri`` at ``now``.

    ``access_token``: the token presented with it at a resource server,
    whose hash ``ath`` must be. ``nonces``: when the server requires nonces,
    the ones it currently accepts. Raises InvalidDpopProofError (or
    UseDpopNonceError) and returns the :class:`Proof` otherwise.
    """
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_LENGTH:
        raise InvalidDpopProofError("The DPoP proof is missing or too long.")
    try:
        header_b64, payload_b64, signature_b64 = _split(proof)
        payload = _json_object(payload_b64)
        signature = _signature_bytes(signature_b64)
    except MalformedTokenError as exc:
        raise InvalidDpopProofError("The DPoP proof is not a compact JWT.") from exc
    alg, key, jkt = _header_key(header_b64)
    try:
        genuine = _VERIFIERS[alg].verify(f"{header_b64}.{payload_b64}".encode(), key, signature)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidDpopProofError("The DPoP proof's signature is invalid.") from exc
    if not genuine:
        raise InvalidDpopProofError("The DPoP proof's signature is invalid.")
    iat = _check_claims(payload, method=method, uri=uri, now=now, max_age=max_age, leeway=leeway)
    if access_token is not None:
        ath = payload.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath.encode("ascii", "replace"), access_token_hash(access_token).encode()
        ):
            raise InvalidDpopProofError("The DPoP proof is not for this access token (ath).")
    nonce = payload.get("nonce")
    if nonce is not None and not (isinstance(nonce, str) and 0 < len(nonce) <= MAX_JTI_LENGTH):
        raise InvalidDpopProofError("The DPoP proof's nonce is malformed.")
    if nonces is not None and (nonce is None or nonce not in nonces):
        raise UseDpopNonceError("The DPoP proof must carry the nonce the server sent.")
    return Proof(
        jkt=jkt,
        jti=payload["jti"],
        iat=iat,
        nonce=nonce,
        replay_until=iat + max_age + leeway,
    )


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _header_key(header_b64: str) -> tuple[str, Any, str]:
    """The checked ``alg``, public key and thumbprint of a proof header.

    A client signs every proof with one key, so its header (``typ``,
    ``alg``, ``jwk``) is the same string on every request: the same string
    can only hold the same key, so parsing and checking it once per
    process is enough. Only successes are cached (lru_cache does not keep
    exceptions); an entry is at most one :data:`MAX_PROOF_LENGTH` string
    and a key, so the cache stays under ~6 MiB whatever is sent."""
    try:
        header = _json_object(header_b64)
    except MalformedTokenError as exc:
        raise InvalidDpopProofError("The DPoP proof is not a compact JWT.") from exc
    alg = _check_header(header)
    key = _public_key(header.get("jwk"), alg)
    return alg, key, thumbprint(header["jwk"])


def _check_header(header: dict[str, Any]) -> str:
    typ, alg = header.get("typ"), header.get("alg")
    if not isinstance(typ, str) or typ.lower() != "dpop+jwt":
        raise InvalidDpopProofError("The DPoP proof's typ must be dpop+jwt.")
    if alg not in _VERIFIERS:
        raise InvalidDpopProofError(
            "The DPoP proof's alg must be one of " + ", ".join(ALGORITHMS) + "."
        )
    if "crit" in header:
        raise InvalidDpopProofError("The DPoP proof has critical headers; refused.")
    if _OTHER_KEY_HEADERS.intersection(header):
        raise InvalidDpopProofError("The DPoP proof must carry its key in jwk only.")
    return str(alg)


def _public_key(jwk: object, alg: str) -> Any:
    if not isinstance(jwk, dict):
        raise InvalidDpopProofError("The DPoP proof's header has no jwk.")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise InvalidDpopProofError("The DPoP proof's jwk holds a private key; refused.")
    kty, crv = _KEY_TYPES[alg]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise InvalidDpopProofError(f"The DPoP proof's jwk is not a {crv or kty} key for {alg}.")
    try:
        key = _VERIFIERS[alg].from_jwk(jwk)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidDpopProofError("The DPoP proof's jwk is not a valid key.") from exc
    if not isinstance(key, _PUBLIC_TYPES):
        raise InvalidDpopProofError("The DPoP proof's jwk is not a public key.")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise InvalidDpopProofError(f"The DPoP proof's RSA key is under {MIN_RSA_BITS} bits.")
    return key


def _check_claims(
    payload: dict[str, Any], *, method: str, uri: str, now: float, max_age: float, leeway: float
) -> float:
    jti, htm, htu, iat = (payload.get(name) for name in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise InvalidDpopProofError("The DPoP proof needs a jti of at most 256 characters.")
    if not isinstance(htm, str) or not _METHOD.fullmatch(htm) or htm != method.upper():
        raise InvalidDpopProofError("The DPoP proof is for another HTTP method (htm).")
    if not isinstance(htu, str) or _normalized(htu) != _normalized(uri):
        raise InvalidDpopProofError("The DPoP proof is for another URI (htu).")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise InvalidDpopProofError("The DPoP proof needs a numeric iat.")
    if iat < now - max_age:
        raise InvalidDpopProofError("The DPoP proof is too old (iat).")
    if iat > now + leeway:
        raise InvalidDpopProofError("The DPoP proof is issued in the future (iat).")
    return float(iat)
