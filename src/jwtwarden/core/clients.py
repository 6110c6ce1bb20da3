"""Resource-server clients: the callers of token introspection (RFC 7662)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

__all__ = ["Client", "hash_client_secret", "is_client_secret"]


@dataclass(frozen=True, slots=True)
class Client:
    """A resource server's credentials; only a hash of the secret is kept."""

    client_id: str
    name: str
    secret_hash: str = field(repr=False)
    created_at: float = 0.0


def hash_client_secret(secret: str) -> str:
    """SHA-256 of a client secret. The secrets are 256 random bits, so a fast
    hash is enough: there is nothing to brute-force, unlike a password."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_client_secret(secret: str, secret_hash: str) -> bool:
    """Whether ``secret`` matches, compared in constant time."""
    return hmac.compare_digest(hash_client_secret(secret), secret_hash)
