"""jwtwarden: short-lived JWT access tokens, rotating refresh tokens with
reuse detection, precise revocation, and offline verification.

The public API is what ``__all__`` names; everything else may change.

Names whose module needs a third-party library (the service and its stores,
argon2 and pydantic-settings; PyJWT for the verifier) are imported on first
use (PEP 562), so ``import jwtwarden.verifier`` on a resource server loads
no store, no service and none of the auth server's dependencies.
"""

import importlib as _importlib
import typing as _typing

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
    KeysUnavailableError,
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
    VerificationUnavailableError,
)

if _typing.TYPE_CHECKING:
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
    "KeysUnavailableError",
    "VerificationUnavailableError",
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

#: Public name -> the module that defines it, imported on first access.
_LAZY = {
    "AccessClaims": ".tokens.access",
    "Event": ".events",
    "Settings": ".settings",
    "TokenPair": ".service",
    "TokenService": ".service",
    "Verifier": ".verifier",
    "open_store": ".stores",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
