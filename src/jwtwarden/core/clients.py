"""Registered clients: resource servers (the callers of token introspection,
RFC 7662, and of the revocation feed) and trusted backends that may also
start sessions for their own users with the JWT-bearer grant (RFC 7523)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

__all__ = ["Client", "hash_client_secret", "is_client_secret"]


@dataclass(frozen=True, slots=True)
class Client:
    """A client's credentials; only a hash of the secret is kept."""

    client_id: str
    name: str
    secret_hash: str = field(repr=False)
    created_at: float = 0.0
    #: May start sessions with the JWT-bearer grant (RFC 7523).
    issues_sessions: bool = False
    #: The roles its sessions may carry (the ``scope`` of its requests).
    session_roles: tuple[str, ...] = ()
    #: Its public keys, a JWK Set as JSON (``tokens/jwks.py``,
    #: ``registered_jwks``); ``None``: it signs with its secret (HS256).
    jwks: str | None = None


def hash_client_secret(secret: str) -> str:
    """SHA-256 of a client secret. The secrets are 256 random bits, so a fast
    hash is enough: there is nothing to brute-force, unlike a password."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_client_secret(secret: str, secret_hash: str) -> bool:
    """Whether ``secret`` matches, compared in constant time."""
    return hmac.compare_digest(hash_client_secret(secret), secret_hash)
