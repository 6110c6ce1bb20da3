"""Moving from djangorestframework-simplejwt without logging anyone out.

With ``JWTWARDEN["SIMPLEJWT_MIGRATION"] = True`` the refresh endpoint also
takes a simplejwt refresh token still in the clients' hands. It is verified
by simplejwt itself, under the project's ``SIMPLE_JWT`` settings (signing
key, algorithm, audience, issuer, leeway, expiry, token type, and its
blacklist when ``token_blacklist`` is installed), traded **once** (its
``jti`` is recorded in :class:`~jwtwarden.django.models.MigratedRefreshToken`
by a primary-key insert, which two racing requests cannot both win), then
blacklisted in simplejwt's table when that app is installed, and answered
with a jwtwarden session for its user. Turn the setting off once the longest
simplejwt refresh lifetime has passed since the switch; then simplejwt can
be uninstalled.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..errors import InvalidGrantError
from .models import MigratedRefreshToken

__all__ = ["BLACKLIST_APP", "find_user", "looks_like_jwt", "trade"]

BLACKLIST_APP = "rest_framework_simplejwt.token_blacklist"


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has a JWS compact shape (a jwtwarden refresh token
    has three parts too, but never a JSON header)."""
    import jwt

    if token.count(".") != 2:
        return False
    try:
        jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False
    return True


def _verified(raw: str) -> Any:
    try:
        from rest_framework_simplejwt.exceptions import TokenError
        from rest_framework_simplejwt.tokens import RefreshToken
    except ImportError:
        raise InvalidGrantError() from None
    try:
        return RefreshToken(raw)  # type: ignore[arg-type]
    except TokenError:
        raise InvalidGrantError() from None


def find_user(token: Any) -> Any:
    """The active user a verified simplejwt token names (``USER_ID_CLAIM``
    looked up by ``USER_ID_FIELD``), or InvalidGrantError."""
    from rest_framework_simplejwt.settings import api_settings

    model = get_user_model()
    try:
        user = model._default_manager.get(
            **{api_settings.USER_ID_FIELD: token[api_settings.USER_ID_CLAIM]}
        )
    except (KeyError, ValueError, TypeError, model.DoesNotExist):
        raise InvalidGrantError() from None
    if not api_settings.USER_AUTHENTICATION_RULE(user):
        raise InvalidGrantError()
    return user


def trade(raw: str, start: Any) -> Any:
    """Verify the simplejwt refresh token ``raw``, record it as traded, and
    return ``start(user)`` (the new jwtwarden pair). Raises
    InvalidGrantError for a token that is invalid, expired, blacklisted,
    already traded, or whose user is gone or inactive; nothing is recorded
    then."""
    from rest_framework_simplejwt.settings import api_settings

    token = _verified(raw)
    user = find_user(token)
    jti = str(token.get(api_settings.JTI_CLAIM, ""))
    if not jti or len(jti) > 255:
        raise InvalidGrantError()
    expires_at = dt.datetime.fromtimestamp(int(token["exp"]), tz=dt.UTC)
    now = timezone.now()
    MigratedRefreshToken.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            MigratedRefreshToken.objects.create(jti=jti, expires_at=expires_at)
    except IntegrityError:
        raise InvalidGrantError() from None
    try:
        pair = start(user)
    except BaseException:
        MigratedRefreshToken.objects.filter(jti=jti).delete()
        raise
    blacklist(token)
    return pair


def revoke(raw: str) -> bool:
    """Blacklist a genuine simplejwt refresh token (the blacklist endpoint
    during the migration); ``False`` for anything else."""
    try:
        token = _verified(raw)
    except InvalidGrantError:
        return False
    from rest_framework_simplejwt.settings import api_settings

    expires_at = dt.datetime.fromtimestamp(int(token["exp"]), tz=dt.UTC)
    jti = str(token.get(api_settings.JTI_CLAIM, ""))[:255]
    if jti:
        MigratedRefreshToken.objects.get_or_create(jti=jti, defaults={"expires_at": expires_at})
    blacklist(token)
    return True


def blacklist(token: Any) -> None:
    """Blacklist ``token`` in simplejwt's own table, if that app is installed."""
    if apps.is_installed(BLACKLIST_APP):
        token.blacklist()
