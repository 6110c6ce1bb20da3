"""Where an access token travels, and how a refusal is answered.

Framework-free, so the ASGI middleware, the FastAPI dependency, the Django
and Flask integrations and the jwtwarden server all read credentials and
answer failures the same way: a ``Bearer`` header (RFC 6750 §2.1) wins,
otherwise the browser-mode access cookie; a missing or bad token is 401 with
``WWW-Authenticate: Bearer error="invalid_token"`` and a missing role is 403
``insufficient_scope`` (RFC 6750 §3). What is wrong on the resource
server's side (stale revocations, unreachable keys, a missing extra) is 503
``temporarily_unavailable`` with ``Retry-After``, never 401.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from ..errors import (
    ConfigurationError,
    InsufficientScopeError,
    JwtWardenError,
    VerificationUnavailableError,
)
from ..tokens.access import MAX_TOKEN_LENGTH

__all__ = [
    "ACCESS_COOKIE",
    "ACCESS_COOKIE_INSECURE",
    "Refusal",
    "refusal_for",
    "token_from_authorization",
    "token_from_cookie_header",
]

#: The browser-mode access-token cookie (``__Host-``: Secure, Path=/, no Domain).
ACCESS_COOKIE = "__Host-jwtwarden-at"
#: Its name when the server runs with insecure (plain-HTTP development) cookies,
#: where the ``__Host-`` prefix is not allowed.
ACCESS_COOKIE_INSECURE = "jwtwarden-at"

_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


def token_from_authorization(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or ``None``."""
    if not value or len(value) > MAX_TOKEN_LENGTH + 16:
        return None
    match = _BEARER.fullmatch(value.strip())
    return match.group(1) if match else None


def token_from_cookie_header(
    value: str | None, names: Iterable[str] = (ACCESS_COOKIE, ACCESS_COOKIE_INSECURE)
) -> str | None:
    """The access-token cookie from a ``Cookie`` header, or ``None``."""
    if not value or len(value) > 16 * 1024:
        return None
    wanted = tuple(names)
    for part in value.split(";"):
        name, sep, cookie = part.strip().partition("=")
        if sep and name in wanted and 0 < len(cookie) <= MAX_TOKEN_LENGTH:
            return cookie
    return None


class Refusal:
    """An HTTP answer to a failed check: status, headers and a JSON body."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def refusal_for(error: JwtWardenError, realm: str = "jwtwarden") -> Refusal:
    """401 ``invalid_token`` for a missing or bad token (the jwtwarden
    contract names the error even when no token was sent), 403
    ``insufficient_scope`` for a missing role (RFC 6750 §3.1), and 503
    ``temporarily_unavailable`` with ``Retry-After`` when the fault is the
    resource server's (revocations out of date, keys unreachable, a missing
    extra): a client keeps its token and retries, instead of logging out."""
    if isinstance(error, VerificationUnavailableError | ConfigurationError):
        retry = error.retry_after if isinstance(error, VerificationUnavailableError) else 30
        unavailable = error if isinstance(error, VerificationUnavailableError) else None
        text = (
            unavailable.description
            if unavailable
            else VerificationUnavailableError.default_description
        )
        body = json.dumps({"error": "temporarily_unavailable", "error_description": text}).encode()
        headers = {
            "retry-after": str(retry),
            "content-type": "application/json",
            "cache-control": "no-store",
        }
        return Refusal(503, headers, body)
    if isinstance(error, InsufficientScopeError):
        status, code = 403, "insufficient_scope"
    else:
        status, code = 401, "invalid_token"
    description = error.description.replace('"', "'")
    challenge = f'Bearer realm="{realm}", error="{code}", error_description="{description}"'
    body = json.dumps({"error": code, "error_description": error.description}).encode()
    return Refusal(
        status,
        {
            "www-authenticate": challenge,
            "content-type": "application/json",
            "cache-control": "no-store",
        },
        body,
    )
