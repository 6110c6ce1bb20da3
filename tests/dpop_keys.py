"""A DPoP client for tests: a key pair that signs RFC 9449 proofs, honest
or doctored (another ``htu``, an old ``iat``, a lying header), with PyJWT."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from jwtwarden.tokens.jwks import public_jwk, thumbprint


@dataclass
class DpopKey:
    """An ES256 key that signs DPoP proofs."""

    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.private.public_key())

    @property
    def jkt(self) -> str:
        return thumbprint(self.jwk)

    def proof(
        self,
        htu: str,
        htm: str = "POST",
        *,
        iat: float | None = None,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        body: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": htm,
            "htu": htu,
            "iat": int(time.time() if iat is None else iat),
        }
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims)
        head = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return jwt.encode(body, self.private, algorithm="ES256", headers=head)
