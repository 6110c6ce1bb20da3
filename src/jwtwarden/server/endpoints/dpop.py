"""The ``DPoP`` header of a token request (RFC 9449 §5): reading it,
checking it against this server's own URL, and the nonce every answer
carries when nonces are on.

The ``htu`` a proof must name is the issuer's URL plus the request's path
(``/token``, ``/session/login``, ``/session/refresh``), the same URL the
metadata advertises: the issuer is ``JWTWARDEN_ISSUER``, or the address
``jwtwarden serve`` listens on. No ``Host`` or ``X-Forwarded-*`` header is
believed for it, so behind a proxy set ``JWTWARDEN_ISSUER`` to the public
URL (docs/dpop.md).
"""

from __future__ import annotations

from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from ...errors import InvalidDpopProofError, InvalidRequestError, JwtWardenError
from ...service.sessions import DPOP_REQUIRED
from ...tokens.dpop import Proof
from ..errors import error_response
from .context import Endpoint, context

__all__ = ["NONCE_HEADER", "request_proof", "sends_dpop_nonce"]

NONCE_HEADER = "DPoP-Nonce"


async def request_proof(request: Request) -> Proof | None:
    """The request's checked and spent DPoP proof, or ``None`` without a
    ``DPoP`` header. InvalidRequestError without one when the server
    requires DPoP; InvalidDpopProofError for several headers or a bad proof
    (UseDpopNonceError without the server's nonce, when it asks for one)."""
    ctx = context(request)
    values = [v for k, v in request.scope["headers"] if k == b"dpop"]
    if not values:
        if ctx.settings.dpop_required:
            raise InvalidRequestError(DPOP_REQUIRED)
        return None
    if len(values) > 1:
        raise InvalidDpopProofError("Send exactly one DPoP header.")
    uri = ctx.service.policy.issuer.rstrip("/") + request.scope["path"]
    return await ctx.service.check_dpop_proof(
        values[0].decode("latin-1"),
        method=request.method,
        uri=uri,
        require_nonce=ctx.settings.dpop_nonces,
    )


def sends_dpop_nonce(endpoint: Endpoint) -> Endpoint:
    """Mark an endpoint that reads a DPoP proof: when nonces are on, its
    answer, success or refusal, carries the current ``DPoP-Nonce`` (RFC 9449
    §8.2), so a client learns the next nonce without an extra round trip."""

    @wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        ctx = context(request)
        if not ctx.settings.dpop_nonces:
            return await endpoint(request)
        try:
            response = await endpoint(request)
        except JwtWardenError as exc:
            response = error_response(exc)
        response.headers[NONCE_HEADER] = ctx.service.dpop_nonce()
        return response

    return wrapped
