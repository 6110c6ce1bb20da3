"""The whole exception tree of jwtwarden.

Every error carries an RFC error ``code`` (a class attribute) and a
``description`` that is safe to show to a client. Nothing here knows about
HTTP: the status for each class is decided by the server, so the CLI and
library users raise and catch the same classes.

::

    JwtWardenError                 .code (RFC word), .description (safe to show)
    ├── InvalidRequestError        invalid_request
    ├── UnsupportedGrantTypeError  unsupported_grant_type
    ├── InvalidGrantError          invalid_grant: unknown, forged, expired or spent RT
    │   ├── RefreshTokenReusedError  invalid_grant on the wire; the session is revoked
    │   └── InvalidCredentialsError  wrong username or password, or a banned user
    ├── InvalidClientError         invalid_client: unknown resource server, bad secret
    ├── InvalidDpopProofError      invalid_dpop_proof (RFC 9449): a bad DPoP proof
    │   └── UseDpopNonceError        use_dpop_nonce: retry with the server's nonce
    ├── InvalidTokenError          invalid_token: bad, expired or revoked AT
    │   ├── MalformedTokenError, BadSignatureError, UnknownKeyError,
    │   ├── ExpiredTokenError, ClaimsError (iss, aud, typ, missing claims),
    │   ├── DpopBoundTokenError (a DPoP-bound AT sent as Bearer, RFC 9449 §7.2)
    │   └── RevokedTokenError → TokenDeniedError, SessionRevokedError,
    │                           UserCutoffError, UserBannedError
    ├── VerificationUnavailableError  temporarily_unavailable (503): not the token's fault
    │   ├── StaleRevocationsError (the verifier lost its revocation feed)
    │   └── KeysUnavailableError (the JWKS cannot be fetched)
    ├── InsufficientScopeError     insufficient_scope
    ├── InvalidScopeError          invalid_scope: roles a client may not grant
    ├── RateLimitedError           carries retry_after
    ├── NotFoundError,  ConfigurationError
    └── StoreError → StoreUnavailableError, StoreConflictError
"""

from __future__ import annotations

__all__ = [
    "InvalidClientError",
    "InvalidDpopProofError",
    "UseDpopNonceError",
    "InvalidCredentialsError",
    "BadSignatureError",
    "ClaimsError",
    "ConfigurationError",
    "DpopBoundTokenError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "KeysUnavailableError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "InvalidTokenError",
    "JwtWardenError",
    "MalformedTokenError",
    "NotFoundError",
    "RateLimitedError",
    "RefreshTokenReusedError",
    "RevokedTokenError",
    "SessionRevokedError",
    "StaleRevocationsError",
    "StoreConflictError",
    "StoreError",
    "StoreUnavailableError",
    "TokenDeniedError",
    "UnknownKeyError",
    "UnsupportedGrantTypeError",
    "UserBannedError",
    "UserCutoffError",
    "VerificationUnavailableError",
]


class JwtWardenError(Exception):
    """Base of every error jwtwarden raises on purpose.

    ``description`` is written for the client and never contains a token,
    a password or a secret; log detail goes in ``detail``.
    """

    #: The RFC 6749 / 6750 error code sent on the wire.
    code: str = "server_error"
    #: Default client-facing text when none is given.
    default_description: str = "The request failed."

    def __init__(self, description: str | None = None, *, detail: str | None = None) -> None:
        self.description = description or self.default_description
        #: Operator-facing detail for logs; never shown to the client.
        self.detail = detail
        super().__init__(self.description)


class InvalidRequestError(JwtWardenError):
    code = "invalid_request"
    default_description = "The request is missing a parameter or is malformed."


class UnsupportedGrantTypeError(JwtWardenError):
    code = "unsupported_grant_type"
    default_description = "The grant type is not supported."


class InvalidGrantError(JwtWardenError):
    """A refresh token (or credentials) that cannot be used: unknown, forged,
    expired, revoked or already spent."""

    code = "invalid_grant"
    default_description = "The refresh token is invalid, expired or revoked."


class RefreshTokenReusedError(InvalidGrantError):
    """A genuine but spent refresh token was presented again.

    On the wire this is a plain ``invalid_grant``; the session (or every
    session of the user, by policy) has been revoked before it is raised.
    Raised again for any later genuine token of a session that reuse ended,
    so each holder can learn why (browser mode tells the page).
    """

    def __init__(self, *, sid: str, sub: str) -> None:
        super().__init__(detail=f"refresh token reuse: sid={sid} sub={sub}")
        self.sid = sid
        self.sub = sub


class InvalidClientError(JwtWardenError):
    """Client authentication failed (RFC 6749 §5.2 ``invalid_client``)."""

    code = "invalid_client"
    default_description = "Client authentication failed."


class InvalidDpopProofError(JwtWardenError):
    """A DPoP proof (RFC 9449 §4.3) that is missing, malformed, not for this
    request, too old, replayed, or from another key than the token's."""

    code = "invalid_dpop_proof"
    default_description = "The DPoP proof is invalid."


class UseDpopNonceError(InvalidDpopProofError):
    """The proof lacks the server's current nonce (RFC 9449 §8, §9); the
    client retries with the nonce sent in the ``DPoP-Nonce`` header."""

    code = "use_dpop_nonce"
    default_description = "Use the DPoP nonce the server sent."


class InvalidTokenError(JwtWardenError):
    """An access token that must not be accepted (RFC 6750 ``invalid_token``)."""

    code = "invalid_token"
    default_description = "The access token is invalid."


class MalformedTokenError(InvalidTokenError):
    default_description = "The access token is malformed."


class BadSignatureError(InvalidTokenError):
    default_description = "The access token signature is invalid."


class UnknownKeyError(InvalidTokenError):
    default_description = "The access token was signed by an unknown key."


class DpopBoundTokenError(InvalidTokenError):
    """A DPoP-bound access token presented as ``Bearer`` (RFC 9449 §7.2):
    stolen, or a client that forgot its key; answered with a DPoP challenge."""

    default_description = "This access token is DPoP-bound: send it as DPoP, with a proof."


class ExpiredTokenError(InvalidTokenError):
    default_description = "The access token has expired."


class ClaimsError(InvalidTokenError):
    default_description = "The access token claims are invalid."


class VerificationUnavailableError(JwtWardenError):
    """A resource server cannot judge tokens right now, whatever the token:
    its revocation feed is stale, its keys cannot be fetched, or it is
    misdeployed. The operator's problem, not the client's: answered 503 with
    ``Retry-After``, never 401, so clients keep their tokens."""

    code = "temporarily_unavailable"
    default_description = "Access tokens cannot be checked right now; try again shortly."

    def __init__(self, description: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(description)
        #: Seconds a client should wait before trying again.
        self.retry_after = retry_after


class StaleRevocationsError(VerificationUnavailableError):
    """The verifier has not heard from its revocation feed for longer than
    its staleness bound and is configured to fail closed."""

    default_description = "Revocation data is out of date; try again shortly."


class KeysUnavailableError(VerificationUnavailableError):
    """The verification keys cannot be fetched, so a token signed by a key
    not held cannot be judged."""

    default_description = "The token issuer's keys cannot be fetched; try again shortly."


class RevokedTokenError(InvalidTokenError):
    default_description = "The access token has been revoked."


class TokenDeniedError(RevokedTokenError):
    default_description = "The access token has been revoked."


class SessionRevokedError(RevokedTokenError):
    default_description = "The session of this access token has ended."


class UserCutoffError(RevokedTokenError):
    default_description = "Every token of this user issued before a cutoff has been revoked."


class UserBannedError(RevokedTokenError):
    default_description = "The user is banned."


class InsufficientScopeError(JwtWardenError):
    code = "insufficient_scope"
    default_description = "The access token lacks a required role."


class InvalidScopeError(JwtWardenError):
    """A token request asks for more than its client may grant (RFC 6749
    §5.2 ``invalid_scope``): a JWT-bearer grant's roles beyond the client's."""

    code = "invalid_scope"
    default_description = "The requested roles are beyond what this client may grant."


class InvalidCredentialsError(InvalidGrantError):
    """Bad credentials or a banned user at login: the resource owner
    credentials are an invalid grant (RFC 6749 §5.2)."""

    default_description = "Invalid username or password."


class RateLimitedError(JwtWardenError):
    code = "slow_down"
    default_description = "Too many attempts; try again later."

    def __init__(self, retry_after: int, description: str | None = None) -> None:
        super().__init__(description)
        #: Seconds the client should wait.
        self.retry_after = retry_after


class NotFoundError(JwtWardenError):
    code = "not_found"
    default_description = "Not found."


class ConfigurationError(JwtWardenError):
    code = "configuration_error"
    default_description = "jwtwarden is misconfigured."


class StoreError(JwtWardenError):
    code = "temporarily_unavailable"
    default_description = "The token store failed."


class StoreUnavailableError(StoreError):
    default_description = "The token store is unavailable; try again later."


class StoreConflictError(StoreError):
    code = "conflict"
    default_description = "The record already exists."
