"""Where an access token travels, and how a refusal is answered.

Framework-free, so the ASGI middleware, the FastAPI dependency, the Django
and Flask integrations and the jwtwarden server all read credentials and
answer failures the same way: a ``Bearer`` or ``DPoP`` header (RFC 6750
§2.1, RFC 9449 §7.1) wins, otherwise the browser-mode access cookie; a
missing or bad token is 401 with ``WWW-Authenticate: Bearer
error="invalid_token"`` and a missing role is 403 ``insufficient_scope``
(RFC 6750 §3). A request that used DPoP, a bad proof and a bound token sent
as Bearer are answered with the ``DPoP`` challenge instead (RFC 9449 §7.1:
``error="invalid_token"``, ``"invalid_dpop_proof"`` or
``"use_dpop_nonce"``, and ``algs``). What is wrong on the resource
server's side (stale revocations, unreachable keys, a missing extra) is 503
``temporarily_unavailable`` with ``Retry-After``, never 401.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from ..errors import (
    ConfigurationError,
    DpopBoundTokenError,
    InsufficientScopeError,
    InvalidDpopProofError,
    JwtWardenError,
    StoreUnavailableError,
    VerificationUnavailableError,
)
from ..tokens.access import MAX_TOKEN_LENGTH
from .dpop import dpop_challenge

__all__ = [
    "ACCESS_COOKIE",
    "ACCESS_COOKIE_INSECURE",
    "Refusal",
    "credentials_from_authorization",
    "refusal_for",
    "uses_dpop",
    "token_from_authorization",
    "token_from_cookie_header",
]

#: The browser-mode access-token cookie (``__Host-``: Secure, Path=/, no Domain).
ACCESS_COOKIE = "__Host-jwtwarden-at"
#: Its name when the server runs with insecure (plain-HTTP development) cookies,
#: where the ``__Host-`` prefix is not allowed.
ACCESS_COOKIE_INSECURE = "jwtwarden-at"

#: ``Bearer`` (RFC 6750 §2.1) or ``DPoP`` (RFC 9449 §7.1), any casing, then
#: a token68.
_CREDENTIALS = re.compile(r"(?i:(bearer|dpop)) +([A-Za-z0-9\-._~+/]+=*)")


def credentials_from_authorization(value: str | None) -> tuple[str, str] | None:
    """``(scheme, token)`` of an ``Authorization: Bearer …`` or ``DPoP …``
    header, the scheme in lower case (``"bearer"`` or ``"dpop"``), or
    ``None``."""
    if not value or len(value) > MAX_TOKEN_LENGTH + 16:
        return None
    match = _CREDENTIALS.fullmatch(value.strip())
    return (match.group(1).lower(), match.group(2)) if match else None


def uses_dpop(authorization: str | None) -> bool:
    """Whether an ``Authorization`` header uses the ``DPoP`` scheme (its
    refusals then carry the DPoP challenge)."""
    credentials = credentials_from_authorization(authorization)
    return credentials is not None and credentials[0] == "dpop"


def token_from_authorization(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or ``None`` (a
    ``DPoP`` one too: it is good only with its proof)."""
    credentials = credentials_from_authorization(value)
    return credentials[1] if credentials and credentials[0] == "bearer" else None


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


def sends_credentials(authorization: str | None, cookie: str | None, insecure: bool) -> bool:
    """Whether a request sends any credential at all: an ``Authorization``
    header, or a ``Cookie`` header naming an access cookie whatever its
    value. Only a request sending none is anonymous on an optional route:
    an oversized, empty or unreadable credential is refused, never taken
    for "no token"."""
    if authorization is not None:
        return True
    names = (ACCESS_COOKIE, ACCESS_COOKIE_INSECURE) if insecure else (ACCESS_COOKIE,)
    parts = (part.strip().partition("=")[0] for part in (cookie or "").split(";"))
    return any(name in names for name in parts)


def refusal_for(error: JwtWardenError, realm: str = "jwtwarden", *, dpop: bool = False) -> Refusal:
    """401 ``invalid_token`` for a missing or bad token (the jwtwarden
    contract names the error even when no token was sent), 403
    ``insufficient_scope`` for a missing role (RFC 6750 §3.1), and 503
    ``temporarily_unavailable`` with ``Retry-After`` when the fault is the
    resource server's (revocations out of date, keys unreachable, a missing
    extra): a client keeps its token and retries, instead of logging out.

    ``dpop``: the request used the DPoP scheme, so the challenge is
    ``DPoP`` (as it is for a bad proof and a bound token sent as Bearer,
    whatever the request used); 401 ``invalid_dpop_proof`` and
    ``use_dpop_nonce`` (RFC 9449 §7.1)."""
    if isinstance(error, StoreUnavailableError):
        # An embedded service whose store cannot answer: the app's fault,
        # so a 503 like stale revocations, never the client's 401.
        error = VerificationUnavailableError()
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
    elif isinstance(error, InvalidDpopProofError):
        status, code = 401, error.code
    else:
        status, code = 401, "invalid_token"
    description = error.description.replace('"', "'")
    if dpop or isinstance(error, InvalidDpopProofError | DpopBoundTokenError):
        challenge = dpop_challenge(code, description, realm)
    else:
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
