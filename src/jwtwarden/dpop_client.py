"""The client side of DPoP (RFC 9449): a key that signs proofs, and an
httpx ``Auth`` that sends them.

::

    key = DpopKey.generate()                   # EC P-256 (ES256); "EdDSA" too
    auth = DpopAuth(key, access_token)         # after a DPoP-bound grant
    httpx.get("https://api.example.com/orders", auth=auth)

:meth:`DpopKey.proof` makes one proof (a fresh ``jti``, ``iat`` from the
clock) for a method and URL, with ``ath`` when an access token goes with
it and the server's ``nonce`` when it asked for one. The private key never
leaves the object; keep it for as long as the tokens bound to it (its
:attr:`~DpopKey.jkt` is what they carry in ``cnf.jkt``).

:class:`DpopAuth` adds ``Authorization: DPoP <token>`` (when it has a
token) and a ``DPoP`` proof to every request, and retries a request once
when the server answers ``use_dpop_nonce`` with a ``DPoP-Nonce`` header
(RFC 9449 §8, §9), remembering the last nonce per origin. Proofs are
signed by PyJWT on cryptography keys; httpx comes with the ``verifier``
extra.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .clock import Clock, SystemClock
from .tokens.dpop import access_token_hash
from .tokens.jwks import public_jwk, thumbprint

__all__ = ["DpopAuth", "DpopKey"]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


class DpopKey:
    """A client's DPoP key pair: EC P-256 (``ES256``), Ed25519 (``EdDSA``)
    or RSA (``RS256``, ``PS256``), and the proofs it signs.

    Raises ``ValueError`` for a key that does not fit ``alg``.
    """

    def __init__(self, private: PrivateKey, alg: str | None = None, clock: Clock | None = None):
        alg = alg or _default_alg(private)
        if not _fits(private, alg):
            raise ValueError(f"A {type(private).__name__} cannot sign {alg} proofs.")
        self._private = private
        self.alg = alg
        self.clock: Clock = clock or SystemClock()
        #: The public JWK every proof carries.
        self.jwk: dict[str, Any] = public_jwk(private.public_key())
        #: Its RFC 7638 thumbprint: the ``cnf.jkt`` of tokens bound to it.
        self.jkt = thumbprint(self.jwk)
        self._header = {"typ": "dpop+jwt", "jwk": self.jwk}

    @classmethod
    def generate(cls, alg: str = "ES256", clock: Clock | None = None) -> DpopKey:
        """A new key for ``alg`` (``ES256``, ``EdDSA``, ``RS256``, ``PS256``)."""
        private: PrivateKey
        if alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg in ("EdDSA", "Ed25519"):
            private = ed25519.Ed25519PrivateKey.generate()
        elif alg in ("RS256", "PS256"):
            private = rsa.generate_private_key(65537, 2048)
        else:
            raise ValueError(f"No DPoP key for {alg!r}.")
        return cls(private, alg, clock)

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """A proof for ``method url`` (query and fragment left out of
        ``htu``), with ``ath`` for ``access_token`` and the server's
        ``nonce`` when given."""
        parts = urlsplit(url)
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", "")),
            "iat": int(self.clock.now()),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(
            claims,
            self._private,
            algorithm=_PYJWT_NAMES.get(self.alg, self.alg),
            headers=self._header,
        )


class DpopAuth(httpx.Auth):
    """httpx authentication with DPoP: a proof on every request, and the
    ``access_token`` (when given) as ``Authorization: DPoP``. One retry
    with the server's nonce on ``use_dpop_nonce``; the nonce is kept per
    origin for the requests that follow."""

    #: The body of an answer is read before the flow sees it (a token
    #: endpoint names ``use_dpop_nonce`` there), in sync and async clients.
    requires_response_body = True

    def __init__(self, key: DpopKey, access_token: str | None = None) -> None:
        self.key = key
        self.access_token = access_token
        self._nonces: dict[str, str] = {}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        self._sign(request, self._nonces.get(origin))
        response = yield request
        nonce = response.headers.get("dpop-nonce")
        if nonce is not None and 0 < len(nonce) <= 256:
            self._nonces[origin] = nonce
            if _asks_for_nonce(response):
                self._sign(request, nonce)
                yield request

    def _sign(self, request: httpx.Request, nonce: str | None) -> None:
        if self.access_token is not None:
            request.headers["Authorization"] = f"DPoP {self.access_token}"
        request.headers["DPoP"] = self.key.proof(
            request.method, str(request.url), self.access_token, nonce
        )


def _asks_for_nonce(response: httpx.Response) -> bool:
    # A resource server says so in its challenge (RFC 9449 §9), a token
    # endpoint in its JSON error (§8).
    if response.status_code not in (400, 401):
        return False
    if 'error="use_dpop_nonce"' in response.headers.get("www-authenticate", ""):
        return True
    if response.status_code == 400:
        try:
            return bool(response.json().get("error") == "use_dpop_nonce")
        except (ValueError, AttributeError):
            return False
    return False


#: PyJWT signs Ed25519 under ``EdDSA``.
_PYJWT_NAMES = {"Ed25519": "EdDSA"}


def _default_alg(private: object) -> str:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(private, rsa.RSAPrivateKey):
        return "RS256"
    return "ES256"


def _fits(private: object, alg: str) -> bool:
    if alg == "ES256":
        return isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(
            private.curve, ec.SECP256R1
        )
    if alg in ("EdDSA", "Ed25519"):
        return isinstance(private, ed25519.Ed25519PrivateKey)
    return alg in ("RS256", "PS256") and isinstance(private, rsa.RSAPrivateKey)
