"""Exception class → HTTP status, body and headers; the only place that
decides HTTP status for jwtwarden errors (looked up along the MRO, as
starlette's exception handlers are).

RFC endpoints (token, revocation, introspection) and everything else share
one body shape, ``{"error": code, "error_description": text}`` (RFC 6749
§5.2). The description is the client-safe one; log detail never leaves.
"""

from __future__ import annotations

import json
import logging

from starlette.responses import Response

from ..errors import (
    ConfigurationError,
    InsufficientScopeError,
    InvalidClientError,
    InvalidDpopProofError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    InvalidTokenError,
    JwtWardenError,
    NotFoundError,
    RateLimitedError,
    StaleRevocationsError,
    StoreConflictError,
    StoreError,
    UnsupportedGrantTypeError,
)
from ..events import log_value
from ..verifier.credentials import refusal_for

__all__ = ["DpopPresentationError", "HttpError", "error_response"]

logger = logging.getLogger("jwtwarden.server")

_STATUS: dict[type[JwtWardenError], int] = {
    InvalidRequestError: 400,
    InvalidScopeError: 400,
    UnsupportedGrantTypeError: 400,
    InvalidGrantError: 400,
    InvalidClientError: 401,
    InvalidTokenError: 401,
    InsufficientScopeError: 403,
    NotFoundError: 404,
    StoreConflictError: 409,
    RateLimitedError: 429,
    StoreError: 503,
    ConfigurationError: 500,
}


class HttpError(JwtWardenError):
    """A protocol-level refusal with its own status (413, 415, 405…)."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code


class DpopPresentationError(JwtWardenError):
    """A bad, foreign or replayed DPoP proof at a protected route (``GET
    /me``…): a resource server's refusal, 401 with the ``DPoP`` challenge
    (RFC 9449 §7.1), not the token endpoint's 400 (§5)."""

    def __init__(self, cause: InvalidDpopProofError) -> None:
        super().__init__(cause.description)
        self.cause = cause


def error_response(error: JwtWardenError) -> Response:
    """The response for ``error``."""
    if isinstance(error, DpopPresentationError):
        refusal = refusal_for(error.cause, dpop=True)
        return Response(refusal.body, refusal.status, refusal.headers)
    if isinstance(error, StaleRevocationsError):
        # Not knowing about revocations is an outage, never a bad token
        # (DESIGN: 503 with Retry-After, never 401). The server itself falls
        # back to the store instead; this keeps any path that raises it honest.
        body = json.dumps(
            {"error": "temporarily_unavailable", "error_description": error.description}
        )
        headers = {"cache-control": "no-store", "retry-after": "1"}
        return Response(body, 503, headers, media_type="application/json")
    if isinstance(error, InvalidTokenError | InsufficientScopeError):
        refusal = refusal_for(error)
        return Response(refusal.body, refusal.status, refusal.headers)
    status = error.status if isinstance(error, HttpError) else _status_of(error)
    headers = {"cache-control": "no-store", "pragma": "no-cache"}
    code, description = error.code, error.description
    if isinstance(error, RateLimitedError):
        headers["retry-after"] = str(error.retry_after)
    elif isinstance(error, StoreConflictError):
        # A conflict (a taken name) is the client's to resolve: retrying
        # will not help, and nothing failed on the server.
        code = "conflict"
    elif isinstance(error, StoreError):
        # An outage: the client may retry (RFC 7009 §2.2.1 for revocation).
        headers["retry-after"] = "1"
        code = "temporarily_unavailable"
        logger.warning("store failure: %s", log_value(error.detail or error.description))
    elif isinstance(error, InvalidClientError):
        headers["www-authenticate"] = 'Basic realm="jwtwarden"'
    if status == 500:
        logger.error("configuration error: %s", log_value(error.detail or error.description))
        code, description = "server_error", "The server failed."
    body = json.dumps({"error": code, "error_description": description})
    return Response(body, status, headers, media_type="application/json")


def _status_of(error: JwtWardenError) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400
