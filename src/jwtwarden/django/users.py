"""The project's users as jwtwarden sees them: ``sub`` is the user's primary
key as a string, roles come from ``JWTWARDEN["ROLES"]``, and a verified
token's user is loaded from the database only when first touched."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.utils.functional import SimpleLazyObject

from ..tokens.access import AccessClaims
from ..verifier.django import STAFF_ROLE, SUPERUSER_ROLE, ClaimsUser

__all__ = ["default_roles", "find_user", "lazy_user", "sub_of"]


def sub_of(user: Any) -> str:
    """The ``sub`` of a project user: its primary key, as text."""
    return str(user.pk)


def default_roles(user: Any) -> list[str]:
    """``admin`` for a superuser and ``staff`` for staff, the roles
    :class:`~jwtwarden.verifier.django.ClaimsUser` reads back."""
    roles = []
    if getattr(user, "is_superuser", False):
        roles.append(SUPERUSER_ROLE)
    if getattr(user, "is_staff", False):
        roles.append(STAFF_ROLE)
    return roles


def find_user(sub: str) -> Any | None:
    """The active user whose ``sub`` this is, or ``None``."""
    model = get_user_model()
    try:
        user = model._default_manager.get(pk=sub)
    except (ObjectDoesNotExist, ValidationError, ValueError, TypeError):
        return None
    return user if getattr(user, "is_active", True) else None


def lazy_user(claims: AccessClaims, mode: str) -> Any:
    """``request.user`` for verified ``claims``: a :class:`ClaimsUser`
    (``mode == "claims"``), or the project's user, queried when first
    used; an :class:`AnonymousUser` if it is gone or inactive."""
    if mode == "claims":
        return ClaimsUser(claims)
    return SimpleLazyObject(lambda: find_user(claims.sub) or AnonymousUser())
