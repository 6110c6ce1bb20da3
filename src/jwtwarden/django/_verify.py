"""The app's verifier: the process's token service (signature, claims and
revocation checked against the store: one indexed read per request, like
simplejwt's blacklist), an outage turned into the 503 the verifier
integration answers, never a 401."""

from __future__ import annotations

from ..errors import StoreUnavailableError, VerificationUnavailableError
from ..tokens.access import AccessClaims
from .service import current_session, get_service

__all__ = ["ServiceVerifier", "service_verifier"]


class ServiceVerifier:
    """:class:`~jwtwarden.verifier.django.Verifies` through the token service;
    records the request's session for the revocation signals."""

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = get_service().verify(token)
        except StoreUnavailableError as exc:
            raise VerificationUnavailableError() from exc
        current_session.set((claims.sub, claims.sid))
        return claims


service_verifier = ServiceVerifier()
