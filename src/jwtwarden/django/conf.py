"""The ``JWTWARDEN`` setting: a dict of jwtwarden's options, read when the
token service is built (never at import), and checked then.

Keys are the names of :class:`~jwtwarden.Settings` fields in upper case
(``ACCESS_TTL``, ``SESSION_TTL``, ``REFRESH_GRACE``, ``ALGORITHM``,
``ISSUER``, ``AUDIENCE``, ``MASTER_KEY``, ``LEEWAY``, …), plus the Django
ones below. Unknown keys are refused, so a typo is an error, not a default.

========================  ==================================================
``USER``                  ``"model"`` (default): ``request.user`` is the
                          project's user, loaded lazily; ``"claims"``: a
                          :class:`~jwtwarden.verifier.django.ClaimsUser`
                          built from the token, no query
``ROLES``                 dotted path of ``roles(user) -> list[str]``, the
                          roles a user's tokens carry; default
                          :func:`~jwtwarden.django.users.default_roles`
``SIMPLEJWT_MIGRATION``   ``True``: the refresh endpoint also accepts a valid
                          simplejwt refresh token, once
``STORE``                 a store URL to use instead of the project's
                          database (``redis://…``); rarely needed
``SCHEMA``                the PostgreSQL schema of jwtwarden's tables in the
                          project's database (default ``"jwtwarden"``)
``CLOCK``                 a :class:`~jwtwarden.Clock` or its dotted path
                          (tests)
========================  ==================================================

``MASTER_KEY`` defaults to the project's ``SECRET_KEY``: jwtwarden's
signing keys and refresh-token MAC secret are kept in the database, sealed
under a key derived from it (so every process and host of the project shares
them, and a database dump alone mints nothing). If ``SECRET_KEY`` is ever
rotated, set ``MASTER_KEY`` to the old value first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings as django_settings
from django.utils.module_loading import import_string
from pydantic import ValidationError

from ..clock import Clock, SystemClock
from ..errors import ConfigurationError
from ..settings import Settings
from .database import DATABASE_ALIAS, store_url

__all__ = ["Options", "options"]

_DJANGO_KEYS = {"USER", "ROLES", "SIMPLEJWT_MIGRATION", "STORE", "SCHEMA", "CLOCK"}
DEFAULT_ROLES = "jwtwarden.django.users.default_roles"


@dataclass(frozen=True)
class Options:
    """The ``JWTWARDEN`` setting, checked."""

    #: jwtwarden's own settings, the store on the project's database.
    settings: Settings
    user: Literal["model", "claims"]
    roles: Callable[[Any], Iterable[str]]
    simplejwt_migration: bool
    schema: str
    clock: Clock
    #: The store is the project's database (no ``STORE`` key).
    on_project_database: bool


def options() -> Options:
    """The ``JWTWARDEN`` setting, checked against the current Django settings.

    Raises :class:`~jwtwarden.errors.ConfigurationError` naming the bad key."""
    raw = getattr(django_settings, "JWTWARDEN", {})
    if not isinstance(raw, dict):
        raise ConfigurationError("settings.JWTWARDEN must be a dict.")
    user = raw.get("USER", "model")
    if user not in ("model", "claims"):
        raise ConfigurationError('JWTWARDEN["USER"] is "model" or "claims".')
    schema = raw.get("SCHEMA", "jwtwarden")
    if not isinstance(schema, str) or not schema.isidentifier() or len(schema) > 63:
        raise ConfigurationError('JWTWARDEN["SCHEMA"] must be a plain SQL identifier.')
    fields = {k.lower(): v for k, v in raw.items() if k not in _DJANGO_KEYS}
    fields.setdefault("master_key", django_settings.SECRET_KEY)
    fields["store"] = raw.get("STORE") or store_url(DATABASE_ALIAS, schema)
    try:
        jwtwarden_settings = Settings(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]).upper()
        raise ConfigurationError(f'JWTWARDEN["{key}"]: {error["msg"]}') from None
    return Options(
        settings=jwtwarden_settings,
        user=user,
        roles=_named(raw.get("ROLES", DEFAULT_ROLES), "ROLES"),
        simplejwt_migration=bool(raw.get("SIMPLEJWT_MIGRATION", False)),
        schema=schema,
        clock=_named(raw.get("CLOCK"), "CLOCK") if raw.get("CLOCK") else SystemClock(),
        on_project_database=not raw.get("STORE"),
    )


def _named(value: Any, key: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise ConfigurationError(f'JWTWARDEN["{key}"]: cannot import {value!r}.') from exc
