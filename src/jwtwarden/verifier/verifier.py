"""Verifier: signature from cached keys, revocation from a local view.

The request path does no IO: a token is checked against keys held in memory
and against a :class:`~jwtwarden.core.view.RevocationView` that something
else keeps current (a snapshot loaded at start, then the revocation feed).
It needs only ``core`` and ``tokens``, so a resource server never imports a
store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..clock import Clock, SystemClock
from ..core.view import RevocationView
from ..tokens.access import AccessClaims, VerificationKey, decode_access_token, revoked_error
from ..tokens.jwks import parse_jwks

__all__ = ["Verifier"]


class Verifier:
    """Verify jwtwarden access tokens offline.

    ``keys`` is a JWK Set document or verification keys (a service's
    ``SigningKey`` objects qualify). ``view`` holds the revocations; without
    one, only signature and claims are checked.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: Mapping[str, Any] | Iterable[Any],
        view: RevocationView | None = None,
        leeway: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.view = view if view is not None else RevocationView()
        self.leeway = leeway
        self.clock: Clock = clock or SystemClock()
        self._keys: dict[str, VerificationKey] = {}
        self.set_keys(keys)

    def set_keys(self, keys: Mapping[str, Any] | Iterable[Any]) -> None:
        """Replace the key set (a JWKS document or key objects with ``kid``)."""
        found = parse_jwks(dict(keys)) if isinstance(keys, Mapping) else list(keys)
        self._keys = {key.kid: key for key in found}

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid, unrevoked access token.

        Raises an :class:`~jwtwarden.errors.InvalidTokenError` subclass per
        cause: malformed, unknown key, bad signature, claims, expired, denied,
        session revoked, cutoff, banned.
        """
        now = self.clock.now()
        claims = decode_access_token(
            token,
            self._keys.get,
            issuer=self.issuer,
            audience=self.audience,
            now=now,
            leeway=self.leeway,
        )
        cause = self.view.cause(
            sub=claims.sub, sid=claims.sid, jti=claims.jti, auth_time=claims.auth_time, now=now
        )
        if cause is not None:
            raise revoked_error(cause)
        return claims
