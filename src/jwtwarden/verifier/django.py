"""Django and Django REST framework.

The verifier is named by one setting, ``JWTWARDEN_VERIFIER``: a
:class:`~jwtwarden.Verifier` itself, or the dotted path of one (``"myproject.
auth.verifier"``), looked up on use so tests can override it.
``JWTWARDEN_INSECURE_COOKIES = True`` also accepts the plain-HTTP development
cookie.

Like Django's own ``AuthenticationMiddleware`` and ``login_required``, the
middleware only annotates and the views decide:

- :class:`JwtWardenMiddleware` sets ``request.jwtwarden_claims`` to the
  verified claims, or ``None`` when no valid token came (a public page must
  not fail because a stale cookie rode along);
- :func:`require_token` refuses a view with 401 ``invalid_token`` (naming the
  precise cause) or 403 ``insufficient_scope``, and answers 503
  ``temporarily_unavailable`` with ``Retry-After`` when tokens cannot be
  judged now (revocations out of date, keys unreachable), never 401;
- :class:`JwtWardenAuthentication` is the DRF authentication class, with
  :class:`HasRoles` for roles named by the view's ``required_roles``; the
  same 401, 403 and 503 (``Retry-After``) as the decorator.

DPoP (RFC 9449): ``Authorization: DPoP <token>`` with its ``DPoP`` proof is
accepted everywhere here. The proof must name ``request.method`` and
``request.build_absolute_uri(request.get_full_path())`` without its query:
Django's own view of the URL, so behind a proxy the scheme is ``https``
only as ``SECURE_PROXY_SSL_HEADER`` says, and the host is
``X-Forwarded-Host`` only with ``USE_X_FORWARDED_HOST = True`` (else the
``Host`` header), checked against ``ALLOWED_HOSTS`` as always. Set those as
the proxy in front requires, and nothing else is trusted. A
:class:`~jwtwarden.Verifier` brings its DPoP checks (``verifier.dpop``);
another ``Verifies`` may carry a ``dpop`` guard, else one per process on
the system clock is used. Refusals of a DPoP request carry the ``DPoP``
challenge.

Django is imported here only, and DRF only when its classes are first used
(so a Django project without DRF can use the rest); ``jwtwarden.verifier``
never imports either.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from ..clock import SystemClock
from ..errors import (
    ConfigurationError,
    InsufficientScopeError,
    InvalidDpopProofError,
    InvalidTokenError,
    JwtWardenError,
    VerificationUnavailableError,
)
from ..tokens.access import AccessClaims
from .credentials import refusal_for, uses_dpop
from .dpop import DpopGuard
from .verifier import Verifier, credentials_from_headers, require_roles, verify_presented

__all__ = [  # noqa: F822 - the DRF classes come from __getattr__
    "ClaimsUser",
    "HasRoles",
    "JwtWardenAuthentication",
    "JwtWardenMiddleware",
    "Verifies",
    "get_verifier",
    "require_token",
]

View = TypeVar("View", bound=Callable[..., HttpResponse])
_ERROR_ATTRIBUTE = "jwtwarden_error"
#: The DPoP checks of a ``Verifies`` that brings none, per process.
_PROCESS_DPOP = DpopGuard(SystemClock())


def get_verifier() -> Verifier:
    """The verifier the ``JWTWARDEN_VERIFIER`` setting names.

    Raises :class:`~jwtwarden.errors.ConfigurationError` when it is unset or
    names something else.
    """
    value = getattr(settings, "JWTWARDEN_VERIFIER", None)
    verifier = import_string(value) if isinstance(value, str) else value
    if not isinstance(verifier, Verifier):
        raise ConfigurationError("JWTWARDEN_VERIFIER must be a Verifier or its dotted path.")
    return verifier


class Verifies(Protocol):
    """What checks a token: a :class:`~jwtwarden.Verifier`, or the
    ``jwtwarden.django`` app's token service. A ``dpop`` attribute, when
    it is a :class:`~jwtwarden.verifier.dpop.DpopGuard`, checks DPoP
    proofs (its clock and replay cache)."""

    def verify(self, token: str) -> AccessClaims: ...


def authenticate(request: HttpRequest, verifier: Verifies | None = None) -> AccessClaims:
    """The claims of the request's token (``Bearer`` or ``DPoP`` header
    first, then the access cookie), checked by ``verifier`` (default:
    :func:`get_verifier`) with its DPoP proof when bound. Raises
    :class:`~jwtwarden.errors.InvalidTokenError` or
    ``InvalidDpopProofError``, and ``ConfigurationError`` on every request
    while no verifier is set."""
    verifier = verifier or get_verifier()
    authorization = request.META.get("HTTP_AUTHORIZATION")
    guard = getattr(verifier, "dpop", None)
    return verify_presented(
        verifier,
        guard if isinstance(guard, DpopGuard) else _PROCESS_DPOP,
        method=request.method or "GET",
        # Only a DPoP request needs its URL (get_host() checks ALLOWED_HOSTS).
        uri=request.build_absolute_uri(request.get_full_path()) if uses_dpop(authorization) else "",
        authorization=authorization,
        proof=request.META.get("HTTP_DPOP"),
        cookie=request.META.get("HTTP_COOKIE"),
        insecure_cookies=_insecure_cookies(),
    )


def _insecure_cookies() -> bool:
    return bool(getattr(settings, "JWTWARDEN_INSECURE_COOKIES", False))


class JwtWardenMiddleware:
    """Set ``request.jwtwarden_claims``: the verified claims, or ``None``.
    The error of a rejected token is kept for :func:`require_token`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        annotate(request)
        return self.get_response(request)


def annotate(request: HttpRequest, verifier: Verifies | None = None) -> AccessClaims | None:
    """Verify the request's token once, recording claims or the error."""
    if hasattr(request, "jwtwarden_claims"):
        return cast(AccessClaims | None, getattr(request, "jwtwarden_claims"))  # noqa: B009
    claims: AccessClaims | None = None
    try:
        claims = authenticate(request, verifier)
    except (InvalidTokenError, InvalidDpopProofError, VerificationUnavailableError) as error:
        setattr(request, _ERROR_ATTRIBUTE, error)
    request.jwtwarden_claims = claims  # type: ignore[attr-defined]
    return claims


def refusal_response(error: JwtWardenError, request: HttpRequest | None = None) -> HttpResponse:
    """The RFC 6750 (or RFC 9449, for a DPoP ``request``) refusal as a
    Django response."""
    refusal = refusal_for(error, dpop=request is not None and _used_dpop(request))
    return HttpResponse(refusal.body, status=refusal.status, headers=refusal.headers)


def require_token(roles: Iterable[str] = ()) -> Callable[[View], View]:
    """Decorate a view so it runs only for a valid token carrying every role
    in ``roles``; otherwise answer 401 ``invalid_token`` or 403
    ``insufficient_scope``. Works with or without the middleware."""
    if callable(roles):
        raise TypeError("Use @require_token() or @require_token(roles=[...]).")
    required = tuple(roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            claims = annotate(request)
            try:
                if claims is None:
                    raise getattr(request, _ERROR_ATTRIBUTE, None) or InvalidTokenError()
                require_roles(claims, required)
            except JwtWardenError as error:
                return refusal_response(error, request)
            return view(request, *args, **kwargs)

        return cast(View, wrapper)

    return decorate


#: The role that makes a :class:`ClaimsUser` a superuser (and staff).
SUPERUSER_ROLE = "admin"
#: The role that makes a :class:`ClaimsUser` staff.
STAFF_ROLE = "staff"


class ClaimsUser:
    """The user DRF sees for a verified token: no database row, just the
    claims (``pk`` and ``username`` are ``sub``). Override
    :meth:`JwtWardenAuthentication.get_user` to load a real user.

    It answers what code written for Django's users asks, so ``IsAuthenticated``,
    ``IsAdminUser`` and ``user.has_perm`` work: the role ``admin`` makes it
    ``is_superuser`` (every permission, as Django's superusers have) and
    ``is_staff``; the role ``staff`` makes it ``is_staff``. It has no groups
    and no other permissions (they live in the database it does not read)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, claims: AccessClaims) -> None:
        #: The verified claims.
        self.claims = claims
        self.pk = self.id = self.username = claims.sub
        self.roles = claims.roles
        self.is_superuser = SUPERUSER_ROLE in claims.roles
        self.is_staff = self.is_superuser or STAFF_ROLE in claims.roles

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        """Only a superuser has permissions (Django's rule for active superusers)."""
        return self.is_superuser

    def has_perms(self, perm_list: Iterable[str], obj: object = None) -> bool:
        return self.is_superuser

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_superuser

    def get_all_permissions(self, obj: object = None) -> set[str]:
        return set()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClaimsUser) and other.pk == self.pk

    def __hash__(self) -> int:
        return hash(self.pk)

    def __str__(self) -> str:
        return self.username


def _drf_classes() -> dict[str, type]:
    """The DRF classes, built on first use so that Django users without DRF
    can import this module."""
    try:
        from rest_framework import authentication, exceptions, permissions
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "The DRF classes need djangorestframework: pip install 'jwtwarden[drf]'."
        ) from exc

    class Unavailable(exceptions.APIException):
        """503 ``temporarily_unavailable``; DRF's handler sends ``wait`` as
        ``Retry-After``."""

        status_code = 503
        default_code = "temporarily_unavailable"

        def __init__(self, error: VerificationUnavailableError) -> None:
            super().__init__(error.description, "temporarily_unavailable")
            self.wait = error.retry_after

    class JwtWardenAuthentication(authentication.BaseAuthentication):
        """DRF authentication: ``(user, claims)`` for a valid token, ``None``
        when no token came (so another class or the permissions decide), and
        ``AuthenticationFailed`` (401 with the Bearer challenge) for a bad one.
        Override :meth:`get_user` to load a real user."""

        def authenticate(self, request: Any) -> tuple[Any, AccessClaims] | None:
            django_request = request._request
            # Once per request: after the middleware, its outcome (a DPoP
            # proof checked twice would be a replay).
            claims = annotate(django_request, self.get_verifier())
            if claims is not None:
                return self.get_user(claims), claims
            error = getattr(django_request, _ERROR_ATTRIBUTE, None)
            if error is None or not _sent_a_token(django_request):
                return None
            if isinstance(error, VerificationUnavailableError):
                raise Unavailable(error)
            raise exceptions.AuthenticationFailed(error.description, "invalid_token")

        def get_verifier(self) -> Verifies | None:
            """What checks the token; ``None`` is :func:`get_verifier`."""
            return None

        def get_user(self, claims: AccessClaims) -> Any:
            """The user object for ``claims``; a :class:`ClaimsUser` by default."""
            return ClaimsUser(claims)

        def authenticate_header(self, request: Any) -> str:
            error = getattr(request._request, _ERROR_ATTRIBUTE, None) or InvalidTokenError()
            refusal = refusal_for(error, dpop=_used_dpop(request._request))
            return refusal.headers["www-authenticate"]

    class HasRoles(permissions.BasePermission):
        """DRF permission: the token carries every role in the view's
        ``required_roles``. A missing role is 403; no token at all is 401."""

        message = InsufficientScopeError.default_description

        def has_permission(self, request: Any, view: Any) -> bool:
            claims = request.auth
            if not isinstance(claims, AccessClaims):
                return False
            return all(role in claims.roles for role in getattr(view, "required_roles", ()))

    return {"JwtWardenAuthentication": JwtWardenAuthentication, "HasRoles": HasRoles}


def __getattr__(name: str) -> Any:
    if name in ("JwtWardenAuthentication", "HasRoles"):
        classes = _drf_classes()
        globals().update(classes)
        return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _sent_a_token(request: HttpRequest) -> bool:
    try:
        credentials_from_headers(
            request.META.get("HTTP_AUTHORIZATION"),
            request.META.get("HTTP_COOKIE"),
            insecure_cookies=_insecure_cookies(),
        )
    except InvalidTokenError:
        return False
    return True


def _used_dpop(request: HttpRequest) -> bool:
    return uses_dpop(request.META.get("HTTP_AUTHORIZATION"))
