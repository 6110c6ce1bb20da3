"""The example as a Django app, so its verifier is built at start-up."""

from __future__ import annotations

from django.apps import AppConfig


class ExampleConfig(AppConfig):
    name = "examples.django_app"
    label = "jwtwarden_example"

    def ready(self) -> None:
        # Resolve JWTWARDEN_VERIFIER now: a deployment error (missing client
        # credentials, a wrong issuer or audience, a missing extra) stops
        # start-up with its message, and the first request finds the first
        # revocation snapshot loaded instead of a 503.
        from jwtwarden.verifier.django import get_verifier

        get_verifier()
