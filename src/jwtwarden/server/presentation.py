"""How the caller of jwtwarden's own protected routes (``GET /me``,
``/sessions``, ``/logout``, the admin API) presented its access token: as
``Bearer``, in the cookie, or as ``DPoP`` with a proof (RFC 9449 §7).

A DPoP-bound token (``cnf.jkt``) opens these routes only as ``DPoP`` with a
proof by its key, for this request, not seen before by this process
(``check_presentation`` of the resource-server verifier, with its bounded
in-memory replay cache: one store round trip per request is what the
verifier exists to avoid). An unbound token as ``Bearer`` or in the cookie
takes no extra step. The ``htu`` is the issuer's URL plus the path, as at
the token endpoint (docs/dpop.md: no proxy header is believed).
"""

from __future__ import annotations

import re

from starlette.requests import Request

from ..errors import InvalidDpopProofError
from ..tokens.access import MAX_TOKEN_LENGTH, AccessClaims
from ..verifier.dpop import ReplayCache, check_presentation
from .errors import DpopPresentationError

__all__ = ["check_caller", "dpop_token"]

_DPOP = re.compile(r"[Dd][Pp][Oo][Pp] +([A-Za-z0-9\-._~+/]+=*)")


def dpop_token(value: str | None) -> str | None:
    """The token of an ``Authorization: DPoP …`` header, or ``None``."""
    if not value or len(value) > MAX_TOKEN_LENGTH + 16:
        return None
    match = _DPOP.fullmatch(value.strip())
    return match.group(1) if match else None


def check_caller(
    request: Request,
    *,
    token: str,
    scheme: str,
    claims: AccessClaims,
    issuer: str,
    now: float,
    replay: ReplayCache,
) -> None:
    """Refuse a bound token without its proof (InvalidTokenError), an
    unbound one sent as ``DPoP`` (InvalidTokenError), and a bad, foreign or
    replayed proof (:class:`~jwtwarden.server.errors.DpopPresentationError`:
    a resource server's 401 with the DPoP challenge)."""
    jkt = claims.jkt  # cnf.jkt, checked when the token was decoded
    if scheme == "bearer" and jkt is None:
        return  # the usual case: nothing more to check
    proofs = [v for k, v in request.scope["headers"] if k == b"dpop"]
    if len(proofs) > 1:
        raise DpopPresentationError(InvalidDpopProofError("Send exactly one DPoP header."))
    try:
        check_presentation(
            scheme=scheme,
            token=token,
            jkt=jkt,
            proof=proofs[0].decode("latin-1") if proofs else None,
            method=request.method,
            uri=issuer.rstrip("/") + request.scope["path"],
            now=now,
            replay=replay,
        )
    except InvalidDpopProofError as error:
        raise DpopPresentationError(error) from None
