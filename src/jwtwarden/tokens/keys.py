"""Signing keys and the KeyRing.

Sign with the newest key and verify with any key in the ring, selected by
``kid`` (as itsdangerous's ``Signer`` tries its ``secret_keys``, but without
trying each). A rotated-out key is *retired*: it no longer signs, and it is
kept for verification until every token it signed has expired, then dropped.

The ring also carries the refresh-token MAC secret, so one piece of secret
material travels together (key file, or encrypted in the store).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import ConfigurationError
from .jwks import PublicKey, public_jwk, thumbprint

__all__ = ["ALGORITHMS", "KeyRing", "PublicKey", "SigningKey", "generate_key"]

#: ``Ed25519`` (RFC 9864) and ``EdDSA`` (its legacy name, RFC 8037) make the
#: same kind of key; the name given is the one its tokens and the JWKS carry.
Algorithm = Literal["EdDSA", "Ed25519", "ES256", "RS256", "HS256"]
ALGORITHMS: tuple[Algorithm, ...] = ("EdDSA", "Ed25519", "ES256", "RS256", "HS256")

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key: ``private`` signs, ``public`` verifies (for HS256 both are the
    shared secret, which is never published)."""

    kid: str
    alg: Algorithm
    private: PrivateKey | bytes = field(repr=False)
    public: PublicKey | bytes = field(repr=False)
    created_at: float
    retired_at: float | None = None

    @property
    def is_symmetric(self) -> bool:
        return self.alg == "HS256"

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready record holding the private key (for the key file or
        the encrypted store blob only)."""
        if isinstance(self.private, bytes):
            material = _b64(self.private)
        else:
            material = self.private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
        return {
            "kid": self.kid,
            "alg": self.alg,
            "key": material,
            "created_at": self.created_at,
            "retired_at": self.retired_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SigningKey:
        alg = record["alg"]
        if alg not in ALGORITHMS:
            raise ConfigurationError(f"unknown key algorithm {alg!r} in key material")
        if alg == "HS256":
            secret = _unb64(record["key"])
            return cls(
                record["kid"], alg, secret, secret, record["created_at"], record["retired_at"]
            )
        private = serialization.load_pem_private_key(record["key"].encode(), password=None)
        if not isinstance(private, PrivateKey):
            raise ConfigurationError("unsupported private key type in key material")
        return cls(
            record["kid"],
            alg,
            private,
            private.public_key(),
            record["created_at"],
            record["retired_at"],
        )


def generate_key(alg: Algorithm, now: float) -> SigningKey:
    """A fresh key of ``alg``; its ``kid`` is the RFC 7638 JWK thumbprint."""
    private: PrivateKey
    if alg == "HS256":
        secret = secrets.token_bytes(32)
        return SigningKey("hs-" + secrets.token_urlsafe(12), alg, secret, secret, now)
    if alg in ("EdDSA", "Ed25519"):
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ConfigurationError(f"unsupported algorithm {alg!r}")
    public = private.public_key()
    return SigningKey(thumbprint(public_jwk(public)), alg, private, public, now)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The signing keys (newest last) and the refresh-token MAC secret."""

    mac_secret: bytes = field(repr=False)
    keys: tuple[SigningKey, ...] = ()
    #: The store epoch these keys last signed under (the store's proof of
    #: continuity: docs/stores.md, "Data loss"); ``None`` if never bound.
    store_epoch: str | None = None

    @classmethod
    def generate(cls, alg: Algorithm, now: float) -> KeyRing:
        return cls(secrets.token_bytes(32), (generate_key(alg, now),))

    def get(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def active(self, alg: Algorithm) -> SigningKey | None:
        """The newest unretired key of ``alg``: the one that signs."""
        for key in reversed(self.keys):
            if key.retired_at is None and key.alg == alg:
                return key
        return None

    @property
    def public_keys(self) -> tuple[SigningKey, ...]:
        """Every asymmetric key that may still verify a live token (for JWKS)."""
        return tuple(k for k in self.keys if not k.is_symmetric)

    def rotate(self, alg: Algorithm, now: float) -> KeyRing:
        """A ring whose new key of ``alg`` signs; every older key is retired."""
        retired = (k if k.retired_at is not None else replace(k, retired_at=now) for k in self.keys)
        return replace(self, keys=(*retired, generate_key(alg, now)))

    def drop_retired(self, now: float, keep_for: float) -> KeyRing:
        """Drop keys retired more than ``keep_for`` seconds ago: every token
        they signed has expired."""
        kept = tuple(k for k in self.keys if k.retired_at is None or now - k.retired_at < keep_for)
        return replace(self, keys=kept)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "version": 1,
            "mac_secret": _b64(self.mac_secret),
            "keys": [k.to_record() for k in self.keys],
        }
        if self.store_epoch is not None:
            record["store_epoch"] = self.store_epoch
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> KeyRing:
        try:
            if record.get("version") != 1:
                raise ConfigurationError("unknown key material version")
            keys: Iterable[dict[str, Any]] = record["keys"]
            epoch = record.get("store_epoch")
            return cls(
                _unb64(record["mac_secret"]),
                tuple(SigningKey.from_record(k) for k in keys),
                None if epoch is None else str(epoch),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError("key material is corrupt") from exc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
