"""The Django app: ``INSTALLED_APPS += ["jwtwarden.django"]``."""

from __future__ import annotations

from django.apps import AppConfig


class JwtWardenConfig(AppConfig):
    """Connects the revocation signals to the project's user model."""

    name = "jwtwarden.django"
    label = "jwtwarden"
    verbose_name = "jwtwarden"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals

        signals.connect()
