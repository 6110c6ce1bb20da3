"""Settings of the example: the jwtwarden middleware and DRF class, and the
verifier named by ``JWTWARDEN_VERIFIER`` (a dotted path, or the object)."""

from __future__ import annotations

import os

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-set-DJANGO_SECRET_KEY")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "examples.django_app.urls"
# The example app's ready() builds the verifier at start-up (apps.py).
INSTALLED_APPS = ["rest_framework", "examples.django_app.apps.ExampleConfig"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "jwtwarden.verifier.django.JwtWardenMiddleware",
]
USE_TZ = True

#: The Verifier every request is checked with (see verifier.py beside this file).
JWTWARDEN_VERIFIER = "examples.django_app.verifier.verifier"
#: Also read the plain-HTTP development cookie (never in production).
JWTWARDEN_INSECURE_COOKIES = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["jwtwarden.verifier.django.JwtWardenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
}
