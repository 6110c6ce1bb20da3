"""jwtwarden: short-lived JWT access tokens, rotating refresh tokens with
reuse detection, precise revocation, and offline verification.

The public API is what ``__all__`` names; everything else may change.
"""

from .clock import Clock, FrozenClock, SystemClock
from .core.policy import Policy
from .core.view import RevocationSnapshot, RevocationView
from .errors import (
    BadSignatureError,
    ClaimsError,
    ConfigurationError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidCredentialsError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidTokenError,
    JwtWardenError,
    MalformedTokenError,
    NotFoundError,
    RateLimitedError,
    RefreshTokenReusedError,
    RevokedTokenError,
    SessionRevokedError,
    StaleRevocationsError,
    StoreConflictError,
    StoreError,
    StoreUnavailableError,
    TokenDeniedError,
    UnknownKeyError,
    UnsupportedGrantTypeError,
    UserBannedError,
    UserCutoffError,
)
from .events import Event
from .service import TokenPair, TokenService
from .settings import Settings
from .stores import open_store
from .tokens.access import AccessClaims
from .verifier import Verifier

__version__ = "0.1.0"

__all__ = [
    "AccessClaims",
    "InvalidCredentialsError",
    "BadSignatureError",
    "ClaimsError",
    "Clock",
    "ConfigurationError",
    "Event",
    "ExpiredTokenError",
    "FrozenClock",
    "InsufficientScopeError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidTokenError",
    "JwtWardenError",
    "MalformedTokenError",
    "NotFoundError",
    "Policy",
    "RateLimitedError",
    "RefreshTokenReusedError",
    "RevocationSnapshot",
    "RevocationView",
    "RevokedTokenError",
    "SessionRevokedError",
    "Settings",
    "StaleRevocationsError",
    "StoreConflictError",
    "StoreError",
    "StoreUnavailableError",
    "SystemClock",
    "TokenDeniedError",
    "TokenPair",
    "TokenService",
    "UnknownKeyError",
    "UnsupportedGrantTypeError",
    "UserBannedError",
    "UserCutoffError",
    "Verifier",
    "__version__",
    "open_store",
]
