"""Registered clients: resource servers (the callers of token introspection,
RFC 7662, and of the revocation feed) and trusted backends that may also
start sessions for their own users with the JWT-bearer grant (RFC 7523)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

__all__ = ["Client", "derived_client_secret", "hash_client_secret", "is_client_secret"]


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
    #: Its sessions must be DPoP-bound (RFC 9449): a token request for it
    #: without a ``DPoP`` proof is refused.
    require_dpop: bool = False


def hash_client_secret(secret: str) -> str:
    """SHA-256 of a client secret. The secrets are 256 random bits, so a fast
    hash is enough: there is nothing to brute-force, unlike a password."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_client_secret(secret: str, secret_hash: str) -> bool:
    """Whether ``secret`` matches, compared in constant time."""
    return hmac.compare_digest(hash_client_secret(secret), secret_hash)


def derived_client_secret(mac_secret: bytes, client_id: str) -> str:
    """The secret of a client that signs its JWT-bearer assertions with
    HS256. The server must hold an HS256 key to check it, yet the store
    keeps no secret in clear (DESIGN property 4): so the secret is an HMAC
    of the client id under the server's own secret, recomputed when needed,
    and a database dump alone cannot sign an assertion."""
    digest = hmac.new(
        mac_secret, b"jwtwarden client secret\x00" + client_id.encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
